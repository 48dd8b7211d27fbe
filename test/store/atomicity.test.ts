import { Long, MongoClient } from "mongodb";
import { describe, expect, it } from "vitest";
import { ownStore } from "../helpers/own-store.js";

// The local store itself (not the suite's store, which may be a MongoDB): FerretDB v1 behind the
// store's write gate. Each race runs many commands at once over separate pooled connections.
const own = ownStore("atomicity", { maxPoolSize: 100 });
let n = 0;
const coll = <T extends object>() => own.db.collection<T>(`c${++n}`);

const times = <T>(count: number, f: (i: number) => Promise<T>) =>
  Promise.all(Array.from({ length: count }, (_, i) => f(i)));

describe("the local store applies each write command atomically", () => {
  it("100 concurrent $inc on one document add up to 100", async () => {
    const c = coll<{ _id: string; n: number }>();
    await c.insertOne({ _id: "counter", n: 0 });
    await times(100, () => c.updateOne({ _id: "counter" }, { $inc: { n: 1 } }));
    expect(await c.findOne({ _id: "counter" })).toEqual({ _id: "counter", n: 100 });
  });

  it("20 concurrent compare-and-set findOneAndUpdate have exactly one winner", async () => {
    const c = coll<{ _id: string; version: number; owner?: number }>();
    await c.insertOne({ _id: "doc", version: 0 });
    const results = await times(20, (i) =>
      c.findOneAndUpdate({ _id: "doc", version: 0 }, { $set: { version: 1, owner: i } }),
    );
    const winners = results.flatMap((r, i) => (r ? [i] : []));
    expect(winners).toHaveLength(1);
    expect(await c.findOne({ _id: "doc" })).toEqual({ _id: "doc", version: 1, owner: winners[0] });
  });

  it("100 concurrent findOneAndDelete over 10 documents hand each out once", async () => {
    const c = coll<{ _id: number }>();
    await c.insertMany(Array.from({ length: 10 }, (_, i) => ({ _id: i })));
    const results = await times(100, () => c.findOneAndDelete({}));
    const got = results.flatMap((r) => (r ? [r._id] : []));
    expect(got.toSorted((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(results.filter((r) => r === null)).toHaveLength(90);
    expect(await c.countDocuments()).toBe(0);
  });

  it("50 concurrent upserts on one key create one document", async () => {
    const c = coll<{ key: string; n: number }>();
    await times(50, () => c.updateOne({ key: "k" }, { $inc: { n: 1 } }, { upsert: true }));
    const docs = await c.find({}, { projection: { _id: 0 } }).toArray();
    expect(docs).toEqual([{ key: "k", n: 50 }]);
  });

  it("an unacknowledged (w:0) write does not leave a stray reply on the connection", async () => {
    // FerretDB v1 answers moreToCome requests anyway; a driver would take that answer for the reply
    // to its next command. The gate swallows it.
    const single = await new MongoClient(own.store.uri, { maxPoolSize: 1 }).connect();
    try {
      const c = single.db("atomicity").collection<{ _id: string }>(`c${++n}`);
      await c.insertOne({ _id: "fire-and-forget" }, { writeConcern: { w: 0 } });
      await c.insertOne({ _id: "acknowledged" });
      expect(await c.find().sort({ _id: 1 }).toArray()).toEqual([
        { _id: "acknowledged" },
        { _id: "fire-and-forget" },
      ]);
    } finally {
      await single.close();
    }
  });
});

describe("tailable cursors on the local store", () => {
  it("a write goes through while another client's awaitData getMore waits", async () => {
    const name = `feed${++n}`;
    await own.db.createCollection(name, { capped: true, size: 1 << 16 });
    await own.db.collection<{ _id: string }>(name).insertMany([{ _id: "old1" }, { _id: "old2" }]);
    const reader = await new MongoClient(own.store.uri, { monitorCommands: true }).connect();
    try {
      const rdb = reader.db("atomicity");
      // A first batch smaller than the collection keeps the cursor open (see the next test).
      const found = await rdb.command({
        find: name,
        filter: {},
        tailable: true,
        awaitData: true,
        batchSize: 1,
      });
      const id = Long.fromValue(found.cursor.id);
      const caughtUp = await rdb.command({ getMore: id, collection: name, maxTimeMS: 5_000 });
      expect(caughtUp.cursor.nextBatch).toEqual([{ _id: "old2" }]);

      const order: string[] = [];
      const getMoreSent = new Promise<void>((res) =>
        reader.on("commandStarted", (e) => e.commandName === "getMore" && res()),
      );
      const waiting = rdb.command({ getMore: id, collection: name, maxTimeMS: 5_000 }).then((r) => {
        order.push("getMore");
        return r;
      });
      await getMoreSent;
      await own.db.collection<{ _id: string }>(name).insertOne({ _id: "news" });
      order.push("insert");
      const more = await waiting;
      // Had the waiting getMore held the gate, the insert would have waited out its 5 s and the
      // getMore would have come back empty, first.
      expect(order).toEqual(["insert", "getMore"]);
      expect(more.cursor.nextBatch).toEqual([{ _id: "news" }]);
      await rdb.command({ killCursors: name, cursors: [id] });
    } finally {
      await reader.close();
    }
  });

  it("FerretDB quirk: a tailable find whose first batch drains the collection comes back closed", async () => {
    // MongoDB keeps such a cursor open. Tail with a batchSize smaller than what is there.
    const name = `feed${++n}`;
    await own.db.createCollection(name, { capped: true, size: 1 << 16 });
    const tail = (batchSize?: number) =>
      own.db.command({
        find: name,
        filter: {},
        tailable: true,
        awaitData: true,
        ...(batchSize === undefined ? {} : { batchSize }),
      });

    // On an empty capped collection, batchSize 0 opens a cursor, but FerretDB fails its awaitData getMore.
    const empty = Long.fromValue((await tail(0)).cursor.id);
    expect(empty.isZero()).toBe(false);
    await expect(own.db.command({ getMore: empty, collection: name, maxTimeMS: 100 })).rejects.toThrow(
      /iterator is read to the end or closed/,
    );

    await own.db.collection<{ _id: number }>(name).insertMany([{ _id: 1 }, { _id: 2 }]);
    const drained = await tail();
    expect(drained.cursor.firstBatch).toHaveLength(2);
    expect(Long.fromValue(drained.cursor.id).isZero()).toBe(true);

    const partial = await tail(1);
    expect(partial.cursor.firstBatch).toEqual([{ _id: 1 }]);
    const id = Long.fromValue(partial.cursor.id);
    expect(id.isZero()).toBe(false);
    const rest = await own.db.command({ getMore: id, collection: name, maxTimeMS: 100 });
    expect(rest.cursor.nextBatch).toEqual([{ _id: 2 }]);
    expect(Long.fromValue(rest.cursor.id).equals(id)).toBe(true);
    await own.db.command({ killCursors: name, cursors: [id] });
  });
});
