import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Collection, type Db, Double, type Filter, Int32, Long, MongoClient, ObjectId } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalStore, startLocalStore } from "../../src/db/local-store.js";

// The local store pushes top-level conditions on indexed fields down to SQLite (store/pushdown).
// The SQL it sends may select extra documents (FerretDB's handler filters again) but never fewer:
// each filter's answer is compared with the same filter wrapped in a top-level $and, which the
// store never pushes down (so the handler alone answers it), and, for the MongoDB rules that
// pushdown could break, with the documents MongoDB matches, listed by hand.
// explain runs SQLite's EXPLAIN QUERY PLAN on the query FerretDB sends. EXPLAIN does not make a
// SQLite connection notice a schema change (see lookup-index.test.ts): `plan` runs the query first.

type Doc = { _id: string | ObjectId; [k: string]: unknown };

let store: LocalStore;
let client: MongoClient;
let db: Db;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "hush-store-pushdown-"));
  store = await startLocalStore(dir);
  client = await new MongoClient(store.uri).connect();
  db = client.db("pushdown");
});
afterAll(async () => {
  await client?.close();
  await store?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function plan(coll: Collection<Doc>, filter: Filter<Doc>): Promise<{ plan: string; pushed: boolean }> {
  await coll.find(filter).toArray();
  const res = await db.command({ explain: { find: coll.collectionName, filter } });
  return { plan: (res.queryPlanner.Plan as string[]).join("\n"), pushed: res.filterPushdown as boolean };
}

const ids = (docs: Doc[]) => docs.map((d) => String(d._id)).sort();

async function same(coll: Collection<Doc>, filter: Filter<Doc>): Promise<string[]> {
  const pushed = ids(await coll.find(filter).toArray());
  const handler = ids(await coll.find({ $and: [filter] } as Filter<Doc>).toArray());
  expect(pushed, JSON.stringify(filter)).toEqual(handler);
  return pushed;
}

const hex = "65a1b2c3d4e5f60718293a4b";
const day = (n: number) => new Date(Date.UTC(2026, 0, n));

describe("filters pushed down to SQLite on the local store", () => {
  let things: Collection<Doc>;
  beforeAll(async () => {
    things = db.collection<Doc>("things");
    await things.createIndex({ k: 1 });
    await things.createIndex({ c: 1, s: 1 });
    await things.createIndex({ at: 1 });
    await things.createIndex({ "nested.k": 1 });
    await things.insertMany([
      { _id: "str", k: hex, c: "a", s: 1, at: day(1) },
      { _id: "oid", k: new ObjectId(hex), c: "a", s: 2, at: day(2) },
      { _id: "arr", k: ["x", hex, 7], c: ["a", "b"], s: [3, 30], at: [day(3), day(30)] },
      { _id: "nested-arr", k: [{ x: "x" }], c: "b", s: 4 },
      { _id: "missing", c: "a" },
      { _id: "null", k: null, c: null, s: null, at: null },
      { _id: "int", k: new Int32(1), c: "a", s: new Int32(10), at: 5 },
      { _id: "double", k: new Double(1), c: "a", s: new Double(10.5) },
      { _id: "long", k: Long.fromNumber(1), c: "a", s: Long.fromString("9007199254740993") },
      { _id: "true", k: true, c: "b", s: true },
      { _id: "string-1", k: "1", c: "b", s: "10" },
      { _id: "date", k: day(5), c: "c", s: day(5), at: day(5) },
      { _id: "object", k: { x: 1 }, c: { a: 1 }, s: { n: 1 } },
      { _id: "nested", nested: { k: "x" }, k: "y" },
      { _id: "escaped", k: "<b>é\u2028😀" },
      { _id: new ObjectId(hex), k: "id is an ObjectId" },
    ]);
  });

  it("equality and $in on strings and ObjectIds: same hex, arrays holding the value", async () => {
    expect(await same(things, { k: hex })).toEqual(["arr", "str"]);
    expect(await same(things, { k: new ObjectId(hex) })).toEqual(["oid"]);
    expect(await same(things, { k: { $eq: "x" } })).toEqual(["arr"]);
    expect(await same(things, { k: "<b>é\u2028😀" })).toEqual(["escaped"]);
    expect(await same(things, { k: { $in: ["y", new ObjectId(hex), "nope"] } })).toEqual(["nested", "oid"]);
    expect(await same(things, { c: "b" })).toEqual(["arr", "nested-arr", "string-1", "true"]);
    expect(await same(things, { k: { $in: [] } })).toEqual([]);
  });

  it("equality on numbers, dates and booleans: 1 == 1.0 == Long(1), never true or '1'", async () => {
    expect(await same(things, { k: 1 })).toEqual(["double", "int", "long"]);
    expect(await same(things, { k: new Double(1) })).toEqual(["double", "int", "long"]);
    expect(await same(things, { k: Long.fromNumber(1) })).toEqual(["double", "int", "long"]);
    expect(await same(things, { k: 7 })).toEqual(["arr"]);
    expect(await same(things, { k: true })).toEqual(["true"]);
    expect(await same(things, { k: "1" })).toEqual(["string-1"]);
    expect(await same(things, { k: day(5) })).toEqual(["date"]);
    expect(await same(things, { s: Long.fromString("9007199254740993") })).toEqual(["long"]);
    expect(await same(things, { s: Long.fromString("9007199254740992") })).toEqual([]);
    expect(await same(things, { k: { $in: [1, "x", day(5), true] } })).toEqual([
      "arr",
      "date",
      "double",
      "int",
      "long",
      "true",
    ]);
  });

  it("ranges on numbers and dates, with type brackets and arrays", async () => {
    expect(await same(things, { s: { $gt: 2 } })).toEqual(["arr", "double", "int", "long", "nested-arr"]);
    expect(await same(things, { s: { $gte: 10, $lt: 10.5 } })).toEqual(["arr", "int"]);
    expect(await same(things, { s: { $lte: 2 } })).toEqual(["oid", "str"]);
    expect(await same(things, { s: { $gt: 9007199254740992 } })).toEqual(["long"]);
    expect(await same(things, { at: { $lte: day(3) } })).toEqual(["arr", "oid", "str"]);
    expect(await same(things, { at: { $gt: day(4) } })).toEqual(["arr", "date"]);
    expect(await same(things, { at: { $gte: 5 } })).toEqual(["int"]);
    expect(await same(things, { s: { $gt: 20, $lt: 5 } })).toEqual(["arr"]);
  });

  it("compound filters: an equality prefix and a range on the next key", async () => {
    expect(await same(things, { c: "a", s: { $lt: 10 } })).toEqual(["arr", "oid", "str"]);
    expect(await same(things, { c: "a", s: { $gte: 10 } })).toEqual(["arr", "double", "int", "long"]);
    expect(await same(things, { c: { $in: ["b", "c"] }, s: 4 })).toEqual(["nested-arr"]);
    expect(await same(things, { c: "a", s: 2, k: new ObjectId(hex) })).toEqual(["oid"]);
  });

  it("$or: each branch's conditions, when every branch has some", async () => {
    expect(
      await same(things, {
        $or: [
          { c: "a", s: 1 },
          { c: "b", s: 4 },
        ],
      }),
    ).toEqual(["nested-arr", "str"]);
    expect(await same(things, { $or: [{ k: hex }, { at: { $lte: day(1) } }] })).toEqual(["arr", "str"]);
    expect(await same(things, { $or: [{ $or: [{ k: 7 }] }, { c: "c" }] })).toEqual(["arr", "date"]);
    expect(await same(things, { c: "b", $or: [{ s: { $gt: 3 } }, { k: true }] })).toEqual([
      "arr",
      "nested-arr",
      "true",
    ]);
    expect(await same(things, { $or: [{ k: 1 }, { unindexed: { $exists: false }, c: "c" }] })).toEqual([
      "date",
      "double",
      "int",
      "long",
    ]);
    expect(await same(things, { $or: [{ k: 1 }, { unindexed: 1 }] })).toEqual(["double", "int", "long"]);
  });

  it("what is not pushed still answers correctly: nulls, missing fields, dotted paths, other operators", async () => {
    expect(await same(things, { k: null })).toEqual(["missing", "null"]);
    expect(await same(things, { c: "a", k: { $exists: false } })).toEqual(["missing"]);
    expect(await same(things, { k: { $ne: 1 }, c: "a", s: { $lt: 3 } })).toEqual(["oid", "str"]);
    expect(await same(things, { "nested.k": "x" })).toEqual(["nested"]);
    expect(await same(things, { k: { x: 1 } })).toEqual(["object"]);
    expect(await same(things, { k: ["x", hex, 7] })).toEqual(["arr"]);
    expect(await same(things, { c: "a", unindexed: { $exists: false }, s: { $gt: 1 } })).toEqual([
      "arr",
      "double",
      "int",
      "long",
      "oid",
    ]);
    expect(await same(things, { c: "a", $or: [{ s: 1 }, { s: 2 }] })).toEqual(["oid", "str"]);
    expect(await same(things, { _id: { $in: [hex, new ObjectId(hex), "str"] } })).toEqual([hex, "str"]);
    expect(await same(things, { _id: { $in: [hex] } })).toEqual([]);
    expect(await same(things, { _id: "int", k: 1 })).toEqual(["int"]);
  });

  it("is served by the twin and array indexes", async () => {
    const shapes: Filter<Doc>[] = [
      { k: hex },
      { k: { $in: [hex, new ObjectId(hex)] } },
      { c: "a", s: { $lt: 3 } },
      { at: { $lte: day(3) } },
      { c: "a", s: { $gte: 2 }, unindexed: 1 },
      { $or: [{ k: hex }, { c: "b", s: { $lt: 5 } }] },
    ];
    for (const filter of shapes) {
      const { plan: p, pushed } = await plan(things, filter);
      expect(pushed, JSON.stringify(filter)).toBe(true);
      expect(p, JSON.stringify(filter)).toMatch(/MULTI-INDEX OR/);
      expect(p, JSON.stringify(filter)).toMatch(/SEARCH \S+ USING INDEX _ferretdb_hush_v_\S+ \(<expr>/);
      expect(p, JSON.stringify(filter)).not.toMatch(/SCAN/);
    }
    const compound = await plan(things, { c: "a", s: { $lt: 3 } });
    expect(compound.plan).toMatch(/USING INDEX _ferretdb_hush_v_\S+ \(<expr>=\? AND <expr><\?\)/);
    const byIds = await plan(things, { _id: { $in: ["str", "oid"] } });
    expect(byIds.plan).toMatch(/SEARCH \S+ USING INDEX _ferretdb_hush_id_\S+ \(<expr>=\?\)/);
    expect(byIds.plan).not.toMatch(/SCAN/);
  });

  it("leaves unindexed fields, nulls, other operators and $and (the tests' reference) to the handler", async () => {
    for (const filter of [
      { unindexed: 1 },
      { k: null },
      { k: { $ne: 1 } },
      { "nested.k": "x" },
      { $or: [{ k: 1 }, { unindexed: 1 }] },
      { $and: [{ k: 1 }] },
    ] as Filter<Doc>[]) {
      expect((await plan(things, filter)).pushed, JSON.stringify(filter)).toBe(false);
    }
  });
});

describe("every command that reads through the backend gets the same answers", () => {
  let coll: Collection<Doc>;
  beforeAll(async () => {
    coll = db.collection<Doc>("commands");
    await coll.insertMany(
      Array.from({ length: 60 }, (_, i) => ({
        _id: `d${i}`,
        g: `g${i % 3}`,
        n: i,
        tags: i % 10 === 0 ? ["t"] : "t",
      })),
    );
    // Declared after the data: the twins are built for rows already there.
    await coll.createIndex({ g: 1, n: 1 });
    await coll.createIndex({ tags: 1 });
  });

  it("count, distinct, aggregate, update, findAndModify and delete", async () => {
    expect(await coll.countDocuments({ g: "g1", n: { $lt: 30 } })).toBe(10);
    expect((await coll.distinct("n", { g: "g0", n: { $gte: 50 } })).sort()).toEqual([51, 54, 57]);
    const grouped = await coll
      .aggregate([{ $match: { tags: "t", n: { $gte: 0 } } }, { $count: "n" }])
      .toArray();
    expect(grouped).toEqual([{ n: 60 }]);
    expect((await coll.updateMany({ g: "g2", n: { $gt: 50 } }, { $set: { hit: true } })).modifiedCount).toBe(
      3,
    );
    expect(ids(await coll.find({ hit: true }).toArray())).toEqual(["d53", "d56", "d59"]);
    const taken = await coll.findOneAndUpdate(
      { g: "g0", n: { $gte: 30 } },
      { $set: { taken: 1 } },
      { sort: { n: 1 } },
    );
    expect(taken?._id).toBe("d30");
    expect((await coll.deleteMany({ tags: "t", n: { $lte: 20 } })).deletedCount).toBe(21);
    expect(await coll.countDocuments({})).toBe(39);
    expect((await plan(coll, { g: "g1", n: { $lt: 30 } })).plan).toMatch(/USING INDEX _ferretdb_hush_v_/);
  });
});
