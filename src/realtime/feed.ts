import { type Collection, type Db, ObjectId } from "mongodb";
import { owned } from "../db/owned.js";
import type { CloseName, LiveEvent } from "./protocol.js";

/*
 * How server processes tell each other what their sockets must hear, through MongoDB alone: a
 * capped collection every process tails (src/realtime/tail.ts). Its documents are pointers and
 * signals, never content: "device D of user U has an entry at position P", "close these
 * sockets", "tell these users that X is typing". A process handles its own events at once and
 * skips them when they come back through the feed.
 */

export type FeedEvent =
  | { kind: "entries"; targets: { u: string; d: string; p: number }[] }
  | { kind: "close"; user_id: string; device_id?: string; session_id?: string; reason: CloseName }
  | { kind: "live"; users: string[]; event: LiveEvent }
  /** Written by a tailer to find where "now" is in the feed; nobody acts on it. */
  | { kind: "mark" };

export interface FeedDoc {
  _id: ObjectId;
  /** The process that handled it already; "" for writers with no process (deletion cascades). */
  origin: string;
  event: FeedEvent;
}

export const FEED_MAX_DOCS = 256;

export const feed = owned<FeedDoc>({
  name: "realtime_feed",
  owner: "realtime",
  holds:
    "a notice between server processes: which devices have new stream positions, which sockets to close, a typing or presence signal; ids and positions only, never content",
  indexes: [],
  capped: { size: 4 * 1024 * 1024, max: FEED_MAX_DOCS },
  expires: false,
  onExpiry: `capped: overwritten by newer notices (the newest ${FEED_MAX_DOCS} are kept)`,
  onAccountDeletion:
    "nothing to erase (a capped collection cannot delete); notices hold only ids and rotate out within seconds to minutes",
  eraseAccount: async () => {},
});

type Listener = (event: FeedEvent) => void;

/** Publishes realtime events to this process's sockets at once and to the others through the feed. */
export interface Bus {
  readonly origin: string;
  publish(event: FeedEvent): Promise<void>;
  subscribe(listener: Listener): () => void;
  /** A document read from the feed: handed to the listeners unless this process wrote it. */
  receive(doc: FeedDoc): void;
}

export function createBus(col: Collection<FeedDoc>): Bus {
  const origin = new ObjectId().toHexString();
  const listeners = new Set<Listener>();
  const emit = (event: FeedEvent) => {
    for (const l of listeners) l(event);
  };
  return {
    origin,
    async publish(event) {
      emit(event);
      await col.insertOne({ _id: new ObjectId(), origin, event });
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
