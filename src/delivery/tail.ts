import { type ClientSession, type Document, Long, ObjectId } from "mongodb";
import type { Deps } from "../deps.js";
import { FEED_MAX_DOCS, type FeedDoc, feed } from "./bus.js";

/*
 * Follows the feed with a tailable awaitData cursor and hands each notice to deps.bus. Raw
 * find/getMore commands, so that the first batch can be small and the later ones large: the local
 * store closes a tailable cursor whose first batch reaches the end of the collection.
 *
 * Positioning: a tailer writes two marks and reads the feed from its start; what comes before
 * its own second mark is old, everything after it is new. Once past the mark it calls `onResume`,
 * and each socket catches up from its stream position and re-checks its session: whatever this
 * process missed while it had no cursor is in MongoDB, so a lost cursor never loses an entry.
 */

const AWAIT_MS = 500;
/** Where the store cannot wait for a document (capabilities.awaitData), the pause between polls. */
const POLL_MS = 50;
/**
 * The pause between polls while this process has no socket: every notice is for sockets, so none
 * is late, and a socket that opens ends the pause at once (`wake`). Idle, the 50 ms poll was most
 * of what a server with no clients cost (docs/performance.md, "Idle"). It still polls now and then:
 * a cursor left alone for 10 minutes is dropped, and on the local store the tailers trim the feed.
 */
const UNHEARD_POLL_MS = 10_000;
const TRIM_EVERY_MS = 500;

export interface Tail {
  /** Ends the pause between polls now: a socket opened. */
  wake(): void;
  stop(): Promise<void>;
}

/** `heard`: whether this process has a socket the feed's notices may be for. */
export function startTail(deps: Deps, onResume: () => void, heard: () => boolean): Tail {
  const db = deps.store.db;
  const name = feed.name;
  let stopped = false;
  let woken = () => {};
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      woken = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  let lastTrim = 0;
  let arrived = 0; // notices read since the collection was last counted

  /**
   * MongoDB caps the collection itself; the local store only when told (`compact`). Counted only
   * once enough notices came by to need it: on the local store a count reads every document
   * (170 ms with a feed of fan-out notices), which every half second cost it a third of a core.
   */
  async function trim(read: number) {
    arrived += read;
    if (arrived < FEED_MAX_DOCS / 4 || Date.now() - lastTrim < TRIM_EVERY_MS) return;
    lastTrim = Date.now();
    arrived = 0;
    if ((await feed.col(db).estimatedDocumentCount()) > FEED_MAX_DOCS * 1.25)
      await db.command({ compact: name });
  }

  async function follow(session: ClientSession) {
    const marks: FeedDoc[] = [0, 1].map(() => ({
      _id: new ObjectId(),
      origin: deps.bus.origin,
      event: { kind: "mark" },
    }));
    await feed.col(db).insertMany(marks);
    const mark = marks[1]!._id;
    let caughtUp = false;
    const handle = (docs: Document[]) => {
      for (const doc of docs as FeedDoc[]) {
        if (caughtUp) deps.bus.receive(doc);
        else if (mark.equals(doc._id)) {
          caughtUp = true;
          onResume();
        }
      }
    };
    // On the local store a waiting getMore re-reads the collection every 10 ms: there the tailer
    // asks without waiting, and pauses between empty answers (20 reads a second, not 100).
    const awaitData = deps.store.capabilities.awaitData;
    const found = await db.command(
      { find: name, filter: {}, tailable: true, awaitData, batchSize: 1 },
      { session },
    );
    let id = Long.fromValue(found.cursor.id);
    handle(found.cursor.firstBatch);
    try {
      while (!stopped) {
        if (id.isZero()) throw new Error("the feed cursor was closed");
        const more = await db.command(
          { getMore: id, collection: name, batchSize: 1_000, ...(awaitData ? { maxTimeMS: AWAIT_MS } : {}) },
          { session },
        );
        id = Long.fromValue(more.cursor.id);
        const empty = more.cursor.nextBatch.length === 0;
        // An empty answer before reaching the mark means the mark is gone: start again.
        if (!caughtUp && empty) throw new Error("the feed mark was not found");
        handle(more.cursor.nextBatch);
        await trim(more.cursor.nextBatch.length);
        if (empty && !awaitData && !stopped) await pause(heard() ? POLL_MS : UNHEARD_POLL_MS);
      }
    } finally {
      // Only on a clean stop: after a network error the driver would hand this command the dead
      // connection and keep handing it to everyone after (seen with driver 7); the server drops
      // an abandoned cursor by itself.
      if (!id.isZero() && stopped)
        await db.command({ killCursors: name, cursors: [id] }, { session }).catch(() => {});
    }
  }

  const done = (async () => {
    let backoff = 50;
    while (!stopped) {
      const session = deps.store.client.startSession();
      try {
        await follow(session);
      } catch (err) {
        if (stopped) break;
        deps.logger.warn("realtime feed cursor lost; resuming", { error: err });
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, 2_000);
      } finally {
        await session.endSession().catch(() => {});
      }
    }
  })();

  return {
    wake: () => woken(),
    async stop() {
      stopped = true;
      woken();
      await done;
    },
  };
}
