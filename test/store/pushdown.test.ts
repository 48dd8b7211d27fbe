import { type Collection, Double, type Filter, Int32, Long, ObjectId } from "mongodb";
import { beforeAll, describe, expect, it } from "vitest";
import { ownStore } from "../helpers/own-store.js";

// The local store pushes top-level conditions on indexed fields down to SQLite (store/pushdown).
// The SQL it sends may select extra documents (FerretDB's handler filters again) but never fewer:
// each filter's answer is compared with the same filter wrapped in a top-level $and, which the
// store never pushes down (so the handler alone answers it), and, for the MongoDB rules that
// pushdown could break, with the documents MongoDB matches, listed by hand.
// explain runs SQLite's EXPLAIN QUERY PLAN on the query FerretDB sends. EXPLAIN does not make a
// SQLite connection notice a schema change (see lookup-index.test.ts): `plan` runs the query first.

type Doc = { _id: string | ObjectId; [k: string]: unknown };

const own = ownStore("pushdown");

async function plan(coll: Collection<Doc>, filter: Filter<Doc>): Promise<{ plan: string; pushed: boolean }> {
  await coll.find(filter).toArray();
  const res = await own.db.command({ explain: { find: coll.collectionName, filter } });
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
    things = own.db.collection<Doc>("things");
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
    coll = own.db.collection<Doc>("commands");
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

// A find sorted on one field with a limit, whose filter bounds that field, is answered by SQLite
// with ORDER BY ... LIMIT (store/pushdown Order): the page costs what it returns. Each answer is
// compared with the handler's alone ($and), which reads, sorts and limits everything.
describe("sorts and limits answered by SQLite on the local store", () => {
  let pages: Collection<Doc>;
  const page = async (
    filter: Filter<Doc>,
    sort: Record<string, 1 | -1>,
    limit: number,
    skip = 0,
    coll = pages,
  ) => {
    const pushed = (await coll.find(filter).sort(sort).skip(skip).limit(limit).toArray()).map((d) =>
      String(d._id),
    );
    const handler = (
      await coll
        .find({ $and: [filter] } as Filter<Doc>)
        .sort(sort)
        .skip(skip)
        .limit(limit)
        .toArray()
    ).map((d) => String(d._id));
    expect(pushed, JSON.stringify({ filter, sort, limit, skip })).toEqual(handler);
    return pushed;
  };
  const explained = async (filter: Filter<Doc>, sort: Record<string, 1 | -1>, limit: number) => {
    await pages.find(filter).sort(sort).limit(limit).toArray();
    const res = await own.db.command({ explain: { find: pages.collectionName, filter, sort, limit } });
    return { plan: (res.queryPlanner.Plan as string[]).join("\n"), limited: res.limitPushdown as boolean };
  };

  beforeAll(async () => {
    pages = own.db.collection<Doc>("pages");
    await pages.createIndex({ c: 1, n: 1 });
    await pages.insertMany(
      Array.from({ length: 400 }, (_, i) => ({
        _id: `p${i}`,
        c: i % 2 ? "odd" : "even",
        n: i,
        at: day(1 + (i % 28)),
      })),
    );
    // Values SQLite orders among the numbers, or selects for the equality, that MongoDB does not match.
    await pages.insertMany([
      { _id: "date", c: "even", n: new Date(150) },
      { _id: "true", c: "even", n: true },
      { _id: "string", c: "even", n: "151" },
      { _id: "missing", c: "even" },
      { _id: "null", c: "even", n: null },
      { _id: "oid", c: new ObjectId(hex), n: 5 },
      { _id: "hex", c: hex, n: 6 },
      { _id: "hex-date", c: hex, n: new Date(7) },
    ]);
  });

  it("the newest page, a middle page and an ascending page match the handler's answer", async () => {
    expect(await page({ c: "even", n: { $lt: Number.MAX_SAFE_INTEGER } }, { n: -1 }, 3)).toEqual([
      "p398",
      "p396",
      "p394",
    ]);
    expect(await page({ c: "even", n: { $lt: 160 } }, { n: -1 }, 6)).toEqual([
      "p158",
      "p156",
      "p154",
      "p152",
      "p150",
      "p148",
    ]);
    expect(await page({ c: "odd", n: { $gt: 0, $lt: 10 } }, { n: 1 }, 3)).toEqual(["p1", "p3", "p5"]);
    expect(await page({ c: "odd", n: { $gt: 0, $lt: 10 } }, { n: 1 }, 10)).toEqual([
      "p1",
      "p3",
      "p5",
      "p7",
      "p9",
    ]);
    expect(await page({ c: "even", n: { $gte: 0 } }, { n: 1 }, 3, 2)).toEqual(["p4", "p6", "p8"]);
    expect(await page({ c: { $in: ["odd", "even"] }, n: { $lte: 2 } }, { n: -1 }, 2)).toEqual(["p2", "p1"]);
    expect(await page({ n: { $lt: 3 } }, { n: -1 }, 2)).toEqual(["p2", "p1"]);
  });

  it("a row SQLite selects and the filter refuses sends the query back to the handler", async () => {
    // {c: hex} selects the ObjectId with that hex too, and {n: {$lt: 10}} the date of 7 ms.
    expect(await page({ c: hex, n: { $lt: 10 } }, { n: -1 }, 1)).toEqual(["hex"]);
    expect(await page({ c: new ObjectId(hex), n: { $lte: 6 } }, { n: -1 }, 1)).toEqual(["oid"]);
    expect(await page({ c: "even", n: { $lt: 200 }, unindexed: { $exists: false } }, { n: -1 }, 2)).toEqual([
      "p198",
      "p196",
    ]);
  });

  it("is an index search that stops at the limit: no sort of its own, no scan", async () => {
    const newest = await explained({ c: "even", n: { $lt: Number.MAX_SAFE_INTEGER } }, { n: -1 }, 51);
    expect(newest.limited).toBe(true);
    expect(newest.plan).toMatch(/SEARCH \S+ USING INDEX _ferretdb_hush_v_\S+ \(<expr>=\? AND <expr><\?\)/);
    expect(newest.plan).not.toMatch(/TEMP B-TREE|SCAN|MULTI-INDEX/);
    const ascending = await explained({ c: "odd", n: { $gt: 10 } }, { n: 1 }, 5);
    expect(ascending.limited).toBe(true);
    expect(ascending.plan).not.toMatch(/TEMP B-TREE|SCAN/);
  });

  it("is left to the handler when MongoDB's order may not be SQLite's", async () => {
    // No condition on the sort field: its values may be of any type.
    expect((await explained({ c: "even" }, { n: -1 }, 3)).limited).toBe(false);
    expect(await page({ c: "even" }, { n: -1 }, 4)).toEqual(["date", "true", "string", "p398"]);
    expect((await explained({ c: "even", n: { $in: [1, 2] } }, { n: -1 }, 3)).limited).toBe(false);
    // A sort on _id first.
    expect((await explained({ c: "odd", _id: "p1" }, { _id: 1 }, 1)).limited).toBe(false);
    // Two keys, the first one not bounded by the filter.
    expect((await explained({ c: "even" }, { n: -1, at: 1 }, 3)).limited).toBe(false);
  });

  // A sort on several keys: SQLite orders by the first (bounded by the filter) and returns every row
  // up to the n-th one's value there, ties included; the handler orders them by every key.
  it("a sort on several keys matches the handler's answer, ties on the first key included", async () => {
    const lists = own.db.collection<Doc>("lists");
    await lists.createIndex({ u: 1, a: 1, t: -1, _id: -1 });
    // 60 rows of user "u", 10 dates, each date shared by 6 rows; _ids of mixed types break ties.
    await lists.insertMany(
      Array.from({ length: 60 }, (_, i) => ({
        _id: i % 7 === 0 ? new ObjectId(`${hex.slice(0, 22)}${String(i).padStart(2, "0")}`) : `l${i}`,
        u: "u",
        a: false,
        t: day(1 + (i % 10)),
      })),
    );
    await lists.insertMany([
      { _id: "other", u: "v", a: false, t: day(28) },
      { _id: "archived", u: "u", a: true, t: day(28) },
      { _id: "string", u: "u", a: false, t: "2026" },
    ]);
    const bounded = { u: "u", a: false, t: { $lte: new Date(8.64e15) } };
    const sorts: Record<string, 1 | -1>[] = [
      { t: -1, _id: -1 },
      { t: -1, _id: 1 },
      { t: 1, _id: -1 },
    ];
    for (const sort of sorts) {
      for (const [limit, skip] of [
        [1, 0],
        [3, 0],
        [6, 0],
        [7, 0],
        [20, 3],
        [20, 40],
        [100, 0],
      ]) {
        const got = await page(bounded, sort, limit as number, skip as number, lists);
        expect(got.length, JSON.stringify({ sort, limit, skip })).toBe(
          Math.min(limit as number, 60 - (skip as number)),
        );
      }
    }
    // A number SQLite orders among the dates (5e12 ms is after every date here) is not a match:
    // the handler finds it among the rows and asks again without the order.
    await lists.insertOne({ _id: "number", u: "u", a: false, t: 5e12 });
    expect(
      await page({ u: "u", a: false, t: { $lte: new Date(6e12) } }, { t: -1, _id: -1 }, 2, 0, lists),
    ).toHaveLength(2);
    // The plan: one search for the n-th value, one range search from it; no sort, no scan.
    await lists.find(bounded).sort({ t: -1, _id: -1 }).limit(20).toArray();
    const res = await own.db.command({
      explain: { find: "lists", filter: bounded, sort: { t: -1, _id: -1 }, limit: 20 },
    });
    const plan = (res.queryPlanner.Plan as string[]).join("\n");
    expect(res.limitPushdown, plan).toBe(true);
    expect(plan).toMatch(
      /SEARCH \S+ USING INDEX _ferretdb_hush_v_\S+ \(<expr>=\? AND <expr>=\? AND <expr>>\? AND <expr><\?\)/,
    );
    expect(plan).toMatch(/SCALAR SUBQUERY[\s\S]*SEARCH \S+ USING COVERING INDEX _ferretdb_hush_v_/);
    expect(plan).not.toMatch(/TEMP B-TREE|SCAN/);
  });

  it("is left to the handler while an array sits in a field it would order or select on", async () => {
    const arrays = own.db.collection<Doc>("pages_arrays");
    await arrays.createIndex({ c: 1, n: 1 });
    await arrays.insertMany(Array.from({ length: 20 }, (_, i) => ({ _id: `a${i}`, c: "x", n: i })));
    const filter = { c: "x", n: { $lt: 100 } };
    const limited = async () => {
      await arrays.find(filter).sort({ n: -1 }).limit(2).toArray();
      const res = await own.db.command({
        explain: { find: "pages_arrays", filter, sort: { n: -1 }, limit: 2 },
      });
      return res.limitPushdown as boolean;
    };
    expect(await limited()).toBe(true);
    // MongoDB sorts [1, 50] by its largest element descending: first.
    await arrays.insertOne({ _id: "array", c: "x", n: [1, 50] });
    expect(await limited()).toBe(false);
    expect((await arrays.find(filter).sort({ n: -1 }).limit(2).toArray()).map((d) => d._id)).toEqual([
      "array",
      "a19",
    ]);
  });
});

// countDocuments' pipeline ($match, then $group with {$sum: 1}) is counted by SQLite when every part
// of its filter translates exactly (pushdown.Counted): the comparison and the value's type in the
// document's schema, which takes out again what the comparison alone selects and MongoDB does not
// match. Each count is compared with the handler's alone ($and) and with the ids MongoDB matches.
describe("counts answered by SQLite on the local store", () => {
  let counted: Collection<Doc>;
  beforeAll(async () => {
    counted = own.db.collection<Doc>("counted");
    await counted.createIndex({ u: 1, a: 1, t: -1 });
    await counted.createIndex({ k: 1 });
    await counted.insertMany(
      Array.from({ length: 120 }, (_, i) => ({
        _id: `c${i}`,
        u: i % 3 ? "u" : new ObjectId(hex),
        a: i % 4 === 0,
        t: day(1 + (i % 20)),
        k: i,
      })),
    );
    // What a comparison alone selects that MongoDB does not match, and what it matches by type.
    await counted.insertMany([
      { _id: "hex", u: hex, a: false, t: day(1), k: 1.5 },
      { _id: "one", u: "u", a: 1, t: day(2), k: "1" },
      { _id: "ms", u: "u", a: false, t: day(3).getTime(), k: new Date(5) },
      { _id: "missing", u: "u" },
      { _id: "null", u: "u", a: null, t: null, k: null },
      { _id: "long", u: "u", a: false, t: day(4), k: Long.fromNumber(7) },
      { _id: "double", u: "u", a: false, t: day(4), k: new Double(7) },
      { _id: "int", u: "u", a: false, t: day(4), k: new Int32(8) },
    ]);
  });
  const count = async (filter: Filter<Doc>) => {
    const n = await counted.countDocuments(filter);
    expect(n, JSON.stringify(filter)).toBe(await counted.countDocuments({ $and: [filter] } as Filter<Doc>));
    return n;
  };

  it("matches the handler's count, types and all", async () => {
    expect(await count({ u: "u", a: false })).toBe(60 + 4);
    expect(await count({ u: new ObjectId(hex) })).toBe(40);
    expect(await count({ u: hex })).toBe(1);
    expect(await count({ u: "u", a: true })).toBe(20);
    expect(await count({ t: { $lte: day(3) } })).toBe(18 + 2);
    expect(await count({ u: "u", a: false, t: { $gte: day(10), $lt: day(20) } })).toBe(32);
    expect(await count({ k: { $gte: 7, $lte: 8 } })).toBe(5);
    expect(await count({ k: { $in: [1, 2, 3] } })).toBe(3);
    expect(await count({ k: { $lt: new Date(10) } })).toBe(1);
    expect(await count({ _id: { $in: ["c1", "c2", "nope"] }, u: "u" })).toBe(2);
    expect(await count({ u: "nobody" })).toBe(0);
    // Left to the handler: mixed kinds in $in, nulls, operators and fields it does not translate.
    expect(await count({ k: { $in: [1, "1"] } })).toBe(2);
    expect(await count({ a: null })).toBe(2);
    expect(await count({ u: "u", a: { $ne: true } })).toBe(60 + 7);
    expect(await count({ u: "u", unindexed: { $exists: false }, a: false })).toBe(64);
  });

  it("is left to the handler while an array sits in a field it counts on", async () => {
    await counted.insertOne({ _id: "array", u: ["u", "v"], a: false, t: day(1), k: 0 });
    expect(await count({ u: "u", a: false })).toBe(65);
    await counted.deleteOne({ _id: "array" });
    expect(await count({ u: "u", a: false })).toBe(64);
  });
});

// A tailable cursor's getMore runs its query again to find what follows the last document it read;
// the store asks SQLite for that document and those after it only (pushdown.WithFrom), where
// FerretDB read the whole capped collection each time (every 10 ms while an awaitData getMore
// waits: the feed tailer's idle cost). What the cursor returns must not change.
describe("tailable cursors read what follows their last document", () => {
  it("each getMore returns exactly the new documents, in order, with both cursor kinds", async () => {
    for (const awaitData of [true, false]) {
      const name = `tail_${awaitData ? "await" : "poll"}`;
      await own.db.createCollection(name, { capped: true, size: 1 << 20 });
      const capped = own.db.collection<Doc>(name);
      await capped.insertMany(Array.from({ length: 40 }, (_, i) => ({ _id: `old${i}`, i })));
      const found = await own.db.command({ find: name, filter: {}, tailable: true, awaitData, batchSize: 1 });
      const id = Long.fromValue(found.cursor.id);
      const more = async () =>
        (
          await own.db.command({
            getMore: id,
            collection: name,
            batchSize: 1_000,
            ...(awaitData ? { maxTimeMS: 300 } : {}),
          })
        ).cursor.nextBatch.map((d: Doc) => d._id);
      expect(await more()).toEqual(Array.from({ length: 39 }, (_, i) => `old${i + 1}`));
      expect(await more()).toEqual([]);
      for (let round = 0; round < 3; round++) {
        const fresh = Array.from({ length: 5 }, (_, i) => `r${round}-${i}`);
        await capped.insertMany(fresh.map((_id) => ({ _id })));
        expect(await more(), `round ${round}`).toEqual(fresh);
        expect(await more()).toEqual([]);
      }
      await own.db.command({ killCursors: name, cursors: [id] });
    }
  });
});
