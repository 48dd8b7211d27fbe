import { Writer } from "./delivery/append.js";
import { createBus, feed } from "./delivery/bus.js";
import { LocalSockets } from "./delivery/sockets.js";
import type { Deps } from "./deps.js";
import { inventory } from "./inventory.js";
import { createLoad } from "./lib/load.js";
import { Metrics } from "./lib/metrics.js";
import { counters } from "./limits/counters.js";
import { createRateLimiter } from "./limits/ratelimit.js";
import { Positions } from "./messages/positions.js";
import { createTokens } from "./sessions/tokens.js";

/** What compose makes itself: the rest comes from the entry file (or a test). */
type Made =
  | "metrics"
  | "limiter"
  | "tokens"
  | "inventory"
  | "bus"
  | "load"
  | "writer"
  | "sockets"
  | "wakes"
  | "vapid"
  | "positions";

/** Builds the dependency bag from what the entry file (or a test) created. */
export function createDeps(base: Omit<Deps, Made>): Deps {
  const bus = createBus(feed.col(base.store.db), base.config.JWT_SECRET, base.logger);
  const deps: Omit<Deps, "writer"> = {
    ...base,
    inventory,
    metrics: new Metrics(),
    limiter: createRateLimiter(counters.col(base.store.db), base.clock),
    tokens: createTokens(base.config.JWT_SECRET, base.clock, base.config.ACCESS_TOKEN_TTL),
    bus,
    load: createLoad(),
    sockets: new LocalSockets(bus),
    wakes: new Set(),
    vapid: {},
    positions: new Positions(),
  };
  return withWriter(deps);
}

/**
 * The bag with a stream writer of its own: the writer reads the bag it belongs to (its store,
 * clock, bus), so it is made last. A test that stands in for another process (its own store
 * client) makes its bag this way too.
 */
export function withWriter(deps: Omit<Deps, "writer"> & { writer?: unknown }): Deps {
  const full = { ...deps } as Deps;
  full.writer = new Writer(full);
  return full;
}
