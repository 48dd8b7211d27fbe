import type { Config } from "./config.js";
import type { AnyOwned } from "./db/owned.js";
import type { Store } from "./db/store.js";
import type { Bus } from "./delivery/bus.js";
import type { Change, StreamWriter } from "./delivery/change.js";
import type { LocalSockets } from "./delivery/sockets.js";
import type { Clock } from "./lib/clock.js";
import type { Load } from "./lib/load.js";
import type { Logger } from "./lib/logger.js";
import type { Metrics } from "./lib/metrics.js";
import type { RateLimiter } from "./limits/ratelimit.js";
import type { Mailer } from "./mail/mailer.js";
import type { Positions } from "./messages/positions.js";
import type { Tokens } from "./sessions/tokens.js";

/** Everything a handler may use, created once at start-up (src/compose.ts) and passed in. */
export interface Deps {
  config: Config;
  store: Store;
  /** Every collection Hush keeps, with its owner's promises; deletion cascades walk it. */
  inventory: readonly AnyOwned[];
  clock: Clock;
  logger: Logger;
  mailer: Mailer;
  metrics: Metrics;
  limiter: RateLimiter;
  tokens: Tokens;
  /** Sees every recorded change before it is delivered; tests read changes through it. */
  onChange?: (change: Change) => void;
  /**
   * Called at each named step boundary of a multi-step write (SEND_STEPS...); the crash tests make
   * a child server kill itself there (HUSH_CRASH_AT, src/index.ts). Production passes none.
   */
  checkpoint?: (step: string) => void | Promise<void>;
  /** Realtime events: to this process's sockets at once, to the other processes through MongoDB. */
  bus: Bus;
  /** Requests and socket events under way, which background jobs yield to. */
  load: Load;
  /** This process's stream writer (src/delivery/append.ts): only the door (deliver.ts) appends. */
  writer: StreamWriter;
  /** This process's sockets, by device (src/delivery/sockets.ts): where new entries go at once. */
  sockets: LocalSockets;
  /** Web Push wake-ups this process is sending (src/delivery/wake.ts): shutdown waits for them. */
  wakes: Set<Promise<unknown>>;
  /** This process's copy of the stored VAPID key (src/push/repo.ts), once read or made. */
  vapid: { key?: Promise<string> };
  /** Positions of messages at the ends of history pages this process served (src/messages/positions.ts). */
  positions: Positions;
}
