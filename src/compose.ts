import type { Deps } from "./deps.js";
import { createBus, feed } from "./feed/feed.js";
import { inventory } from "./inventory.js";
import { createLoad } from "./lib/load.js";
import { Metrics } from "./lib/metrics.js";
import { counters } from "./limits/counters.js";
import { createRateLimiter } from "./limits/ratelimit.js";
import { createTokens } from "./sessions/tokens.js";

/** Builds the dependency bag from what the entry file (or a test) created. */
export function createDeps(
  base: Omit<Deps, "metrics" | "limiter" | "tokens" | "inventory" | "bus" | "load">,
): Deps {
  return {
    ...base,
    inventory,
    metrics: new Metrics(),
    limiter: createRateLimiter(counters.col(base.store.db), base.clock),
    tokens: createTokens(base.config.JWT_SECRET, base.clock, base.config.ACCESS_TOKEN_TTL),
    bus: createBus(feed.col(base.store.db), base.config.JWT_SECRET, base.logger),
    load: createLoad(),
  };
}
