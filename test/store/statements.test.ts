import { describe, expect, it } from "vitest";
import { ownStore } from "../helpers/own-store.js";

// The local store keeps the SQL statements of reads prepared, by their text
// (store/_ferretdb_patch/hush_stmts.go): a kept statement must answer from the data as it is now,
// whatever happened to its table since it was prepared, and never hold a read open that would
// hide a later write. Each read below runs a statement the store has run before.

type Doc = { _id: string; c: string; n: number };

// A pool of several connections, so that reads land on different SQLite connections.
const own = ownStore("statements", { maxPoolSize: 8 });

const docs = (from: number, to: number, c = "x"): Doc[] =>
  Array.from({ length: to - from }, (_, i) => ({ _id: `${c}${from + i}`, c, n: from + i }));
const newest = (name: string, limit = 3) =>
  own.db
    .collection<Doc>(name)
    .find({ c: "x", n: { $lt: Number.MAX_SAFE_INTEGER } })
    .sort({ n: -1 })
    .limit(limit)
    .toArray()
    .then((found) => found.map((d) => d._id));

describe("statements the local store keeps prepared", () => {
  it("see every write made after them, from every connection", async () => {
    const coll = own.db.collection<Doc>("writes");
    await coll.createIndex({ c: 1, n: 1 });
    await coll.insertMany(docs(0, 5));
    for (let n = 5; n < 25; n++) {
      expect(await Promise.all([newest("writes"), newest("writes"), newest("writes")])).toEqual(
        Array(3).fill([`x${n - 1}`, `x${n - 2}`, `x${n - 3}`]),
      );
      await coll.insertOne({ _id: `x${n}`, c: "x", n });
    }
  });

  it("see a write made while another read through the same statement is still open", async () => {
    const coll = own.db.collection<Doc>("open");
    await coll.createIndex({ c: 1, n: 1 });
    await coll.insertMany(docs(0, 40));
    const open = coll.find({ c: "x", n: { $lt: Number.MAX_SAFE_INTEGER } }, { batchSize: 2 }).sort({ n: -1 });
    expect((await open.next())?._id).toBe("x39");
    await coll.insertOne({ _id: "x40", c: "x", n: 40 });
    expect(await newest("open")).toEqual(["x40", "x39", "x38"]);
    expect((await open.toArray()).length).toBeGreaterThan(0);
    await open.close();
  });

  it("answer from the new table after their collection is dropped and made again", async () => {
    const coll = own.db.collection<Doc>("again");
    await coll.createIndex({ c: 1, n: 1 });
    await coll.insertMany(docs(0, 10));
    expect(await newest("again")).toEqual(["x9", "x8", "x7"]);
    await coll.drop();
    expect(await newest("again")).toEqual([]);
    await coll.createIndex({ c: 1, n: 1 });
    await coll.insertMany(docs(100, 104));
    expect(await newest("again")).toEqual(["x103", "x102", "x101"]);
  });

  it("use an index made after them, and answer the same", async () => {
    const coll = own.db.collection<Doc>("indexed");
    await coll.insertMany([...docs(0, 200), ...docs(0, 200, "y")]);
    const filter = { c: "x", n: { $gte: 50, $lt: 53 } };
    const read = () =>
      coll
        .find(filter)
        .toArray()
        .then((found) => found.map((d) => d._id).sort());
    expect(await read()).toEqual(["x50", "x51", "x52"]);
    await coll.createIndex({ c: 1, n: 1 });
    expect(await read()).toEqual(["x50", "x51", "x52"]);
    const res = await own.db.command({ explain: { find: "indexed", filter } });
    expect((res.queryPlanner.Plan as string[]).join("\n")).toMatch(/USING INDEX/);
  });

  it("past as many as it keeps, each further read is still answered right", async () => {
    const coll = own.db.collection<Doc>("many");
    await coll.createIndex({ n: 1 });
    await coll.insertMany(docs(0, 700));
    // Each $in list of another length is another statement: 600 of them, more than the 512 kept.
    for (let k = 1; k <= 600; k++) {
      const want = Array.from({ length: k }, (_, i) => i);
      const found = await coll.find({ n: { $in: want } }, { projection: { _id: 1 } }).toArray();
      expect(found.length, `$in of ${k}`).toBe(k);
    }
    expect((await coll.find({ n: { $in: [698, 699, 700] } }).toArray()).map((d) => d._id).sort()).toEqual([
      "x698",
      "x699",
    ]);
  });
});
