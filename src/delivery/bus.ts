import { type Collection, type Db, ObjectId } from "mongodb";
import { owned } from "../db/owned.js";
import type { Logger } from "../lib/logger.js";
import { hmac } from "../lib/random.js";
import type { CloseName } from "./close.js";

/*
 * How server processes tell each other what their sockets must hear, through MongoDB alone: a
 * capped collection every process tails (tail.ts). Its documents are pointers and
 * signals, never content, and they name no account: devices and users appear as keyed hashes
 * (the key is the servers' shared secret), sockets by their random ids. The one exception, the
 * subject of a live event (who is typing, who came online), is erased with the account.
 * A process handles its own events at once and skips them when they come back through the feed.
 */

/** A live-only server event (typing, presence; schemas in src/realtime/protocol.ts). */
export interface LiveEvent {
  type: "typing_indicator" | "user_status";
  data: Record<string, unknown>;
}

export type FeedEvent =
  /**
   * Devices (by stream key) have entries up to these positions. `entry` is the entry itself, for
   * this process's sockets only: it is never written to the feed.
   */
  | { kind: "entries"; targets: { k: string; p: number; entry?: unknown }[] }
  /** Close these sockets, or every socket of this session. */
  | { kind: "close"; sockets?: string[]; session_id?: string; reason: CloseName }
  /** Send a live-only event to these users' sockets (by user key); `about` is its subject's id. */
  | { kind: "live"; to: string[]; about: string; event: LiveEvent }
  /** Written by a tailer to find where "now" is in the feed; nobody acts on it. */
  | { kind: "mark" };

export interface FeedDoc {
  _id: ObjectId;
  /** The process that handled it already; "" for writers with no process (deletion cascades). */
  origin: string;
  event: FeedEvent;
  /** The subject of a live event, so the account's erasure reaches it. */
  about?: string;
}

export const FEED_MAX_DOCS = 128;

export const feed = owned<FeedDoc>({
  name: "realtime_feed",
  owner: "delivery",
  holds:
    "a notice between server processes: which devices (as keyed hashes) have new stream positions, which sockets to close, a typing or presence signal; never content",
  indexes: [{ key: { about: 1 } }],
  capped: { size: 4 * 1024 * 1024, max: FEED_MAX_DOCS },
  expires: false,
  onExpiry: `capped: overwritten by newer notices (the newest ${FEED_MAX_DOCS} are kept)`,
  onAccountDeletion: "live signals about the account blanked; the rest name no account",
  // Blanked in place rather than deleted: a deleted document can be the one a tailer's cursor
  // stands on, and the cursor would be lost.
  eraseAccount: (col, a) =>
    col.updateMany(
      { about: a._id.toHexString() },
      { $set: { event: { kind: "mark" } }, $unset: { about: "" } },
    ),
});

/** Names for devices and users in the feed: keyed hashes only the servers can compute. */
export function feedKeys(secret: string) {
  const key = hmac(secret, "hush realtime feed");
  return {
    stream: (userHex: string, deviceId: string) => hmac(key, `stream:${userHex}:${deviceId}`).slice(0, 32),
    user: (userHex: string) => hmac(key, `user:${userHex}`).slice(0, 32),
  };
}
export type FeedKeys = ReturnType<typeof feedKeys>;

type Listener = (event: FeedEvent) => void;

/** Publishes realtime events to this process's sockets at once and to the others through the feed. */
export interface Bus {
  readonly origin: string;
  readonly keys: FeedKeys;
  publish(event: FeedEvent): Promise<void>;
  subscribe(listener: Listener): () => void;
  /** A document read from the feed: handed to the listeners unless this process wrote it. */
  receive(doc: FeedDoc): void;
}

/** Feed writes tried before a notice is given up (see `publish`). */
const ATTEMPTS = 3;

export function createBus(col: Collection<FeedDoc>, secret: string, logger: Logger): Bus {
  const origin = new ObjectId().toHexString();
  const listeners = new Set<Listener>();
  const emit = (event: FeedEvent) => {
    for (const l of listeners) l(event);
  };
  return {
    origin,
    keys: feedKeys(secret),
    /**
     * A notice that cannot be written is logged, not thrown: what it announces is already written
     * (stream entries, a revoked session), and the other processes' sockets still get it, from the
     * stream at the device's next notice or when their tailer resumes, and at the next session check.
     */
    async publish(event) {
      emit(event);
      const about = event.kind === "live" ? { about: event.about } : {};
      const stored: FeedEvent =
        event.kind === "entries"
          ? { kind: "entries", targets: event.targets.map(({ k, p }) => ({ k, p })) }
          : event;
      for (let attempt = 1; ; attempt++) {
        try {
          await col.insertOne({ _id: new ObjectId(), origin, event: stored, ...about });
          return;
        } catch (err) {
          if (attempt >= ATTEMPTS) {
            logger.warn("realtime notice not written to the feed", { kind: event.kind, error: err });
            return;
          }
          await new Promise((r) => setTimeout(r, 20 * attempt));
        }
      }
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    receive(doc) {
      if (doc.origin !== origin && doc.event.kind !== "mark") emit(doc.event);
    },
  };
}

/** For writers without a bus (the deletion cascades): every process, this one too, acts on it. */
export const publishClose = (db: Db, event: Extract<FeedEvent, { kind: "close" }>) =>
  feed.col(db).insertOne({ _id: new ObjectId(), origin: "", event });
