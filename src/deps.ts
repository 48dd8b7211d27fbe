import { createTokens, type Tokens } from "./auth/tokens.js";
import type { Config } from "./config.js";
import type { Store } from "./db/store.js";
import type { Mailer } from "./mail/mailer.js";
import type { Clock } from "./shared/clock.js";
import type { Logger } from "./shared/logger.js";
import { Metrics } from "./shared/metrics.js";
import { createRateLimiter, type RateLimiter } from "./shared/ratelimit.js";

/** Everything a handler may use, created once at start-up and passed in (tests build their own). */
export interface Deps {
  config: Config;
  store: Store;
  clock: Clock;
  logger: Logger;
  mailer: Mailer;
  metrics: Metrics;
  limiter: RateLimiter;
  tokens: Tokens;
}

export function createDeps(base: Omit<Deps, "metrics" | "limiter" | "tokens">): Deps {
  return {
    ...base,
    metrics: new Metrics(),
    limiter: createRateLimiter(base.store.col.slots, base.clock),
    tokens: createTokens(base.config.JWT_SECRET, base.clock, base.config.ACCESS_TOKEN_TTL),
  };
}
