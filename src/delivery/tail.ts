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
const TRIM_EVERY_MS = 500;

export interface Tail {
  stop(): Promise<void>;
}

export function startTail(deps: Deps, onResume: () => void): Tail {
  const db = deps.store.db;
  const name = feed.name;
  let stopped = false;
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
        if (empty && !awaitData && !stopped) await new Promise((r) => setTimeout(r, POLL_MS));
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
    let pause = 50;
    while (!stopped) {
      const session = deps.store.client.startSession();
      try {
        await follow(session);
      } catch (err) {
        if (stopped) break;
        deps.logger.warn("realtime feed cursor lost; resuming", { error: err });
        await new Promise((r) => setTimeout(r, pause));
        pause = Math.min(pause * 2, 2_000);
      } finally {
        await session.endSession().catch(() => {});
      }
    }
  })();

  return {
    async stop() {
      stopped = true;
      await done;
    },
  };
}
