import { ObjectId } from "mongodb";
import { describe, expect, it } from "vitest";
import { inventory } from "../../src/inventory.js";
import {
  type DeclaredIndex,
  declaredIndexes,
  describeShape,
  shapesOf,
  uncoveredShapes,
} from "../helpers/index-coverage.js";
import { coverageReport, requestOrigin, watchCommand } from "../helpers/query-watch.js";

const id = new ObjectId();
const idx = (key: Record<string, number>, unique = false): DeclaredIndex => ({
  collection: "c",
  key,
  unique,
});
/** The driver sends a find's sort as a Map. */
const find = (filter: object, sort: [string, number][] = []) => ({
  find: "c",
  filter,
  sort: new Map(sort),
  $db: "hush",
});
const uncovered = (command: object, on: DeclaredIndex[]) =>
  uncoveredShapes(command as Record<string, unknown>, on).map(describeShape);
const covered = (command: object, on: DeclaredIndex[]) => uncovered(command, on).length === 0;

describe("query shapes", () => {
  it("reads filter and sort of find, findAndModify and distinct", () => {
    expect(shapesOf(find({ a: 1, b: { $gt: 2 } }, [["c", -1]])).map(describeShape)).toEqual([
      "c.find {a:eq, b:range} sort {c:-1}",
    ]);
    const fam = { findAndModify: "c", query: { a: id }, sort: { b: 1 }, update: { $set: { x: 1 } } };
    expect(shapesOf(fam).map(describeShape)).toEqual(["c.findAndModify {a:eq} sort {b:1}"]);
    expect(shapesOf({ distinct: "c", key: "x", query: { a: 1 } }).map(describeShape)).toEqual([
      "c.distinct {a:eq} sort {}",
    ]);
  });

  it("reads each statement of an update and a delete", () => {
    const update = {
      update: "c",
      updates: [
        { q: { a: 1 }, u: {} },
        { q: { b: 1 }, u: {} },
      ],
    };
    expect(shapesOf(update).map(describeShape)).toEqual([
      "c.update {a:eq} sort {}",
      "c.update {b:eq} sort {}",
    ]);
    const del = { delete: "c", deletes: [{ q: { a: { $lte: new Date() } }, limit: 0 }] };
    expect(shapesOf(del).map(describeShape)).toEqual(["c.delete {a:range} sort {}"]);
  });

  it("reads countDocuments' leading $match, and needs nothing for a count without a query", () => {
    const countDocuments = {
      aggregate: "c",
      pipeline: [{ $match: { a: 1 } }, { $limit: 1 }, { $group: { _id: 1, n: { $sum: 1 } } }],
      cursor: {},
    };
    expect(shapesOf(countDocuments).map(describeShape)).toEqual(["c.aggregate {a:eq} sort {}"]);
    expect(shapesOf({ count: "c" })).toEqual([]); // estimatedDocumentCount reads metadata
    expect(shapesOf({ count: "c", query: { a: 1 } }).map(describeShape)).toEqual(["c.count {a:eq} sort {}"]);
  });

  it("reads an aggregate's leading $match and the $sort right after it; anything else first is a scan", () => {
    const pipeline = [{ $match: { a: 1 } }, { $sort: { b: -1 } }, { $match: { z: 1 } }];
    expect(shapesOf({ aggregate: "c", pipeline }).map(describeShape)).toEqual([
      "c.aggregate {a:eq} sort {b:-1}",
    ]);
    const grouped = { aggregate: "c", pipeline: [{ $group: { _id: "$a" } }, { $match: { _id: 1 } }] };
    expect(uncovered(grouped, [idx({ a: 1 })])).toEqual(["c.aggregate {} sort {}"]);
    expect(shapesOf({ aggregate: 1, pipeline: [{ $currentOp: {} }] })).toEqual([]);
  });

  it("ignores commands that carry no query", () => {
    for (const command of [
      { insert: "c", documents: [{ a: 1 }] },
      { createIndexes: "c", indexes: [] },
      { hello: 1 },
      { ping: 1 },
      { drop: "c" },
      { dropDatabase: 1 },
      { getMore: 1n, collection: "c" },
      { killCursors: "c", cursors: [] },
      { endSessions: [] },
    ]) {
      expect(shapesOf(command)).toEqual([]);
    }
  });

  it("takes a tailable find (a capped collection read in insertion order) as no query shape", () => {
    expect(shapesOf({ find: "feed", filter: {}, tailable: true, awaitData: true, batchSize: 1 })).toEqual([]);
    expect(shapesOf({ find: "feed", filter: {} }).map(describeShape)).toEqual(["feed.find {} sort {}"]);
  });

  it("tells equality from range, whatever the value's type", () => {
    const shape = shapesOf(
      find({
        oid: id,
        date: new Date(),
        doc: { x: 1 },
        list: { $in: [1, 2] },
        eq: { $eq: 3 },
        "dotted.path": true,
        re: /x/,
        regex: { $regex: "x", $options: "i" },
        ne: { $ne: 1 },
        ex: { $exists: true },
        nin: { $nin: [1] },
      }),
    )[0]!;
    expect(shape.eq).toEqual(["date", "doc", "dotted.path", "eq", "list", "oid"]);
    expect(shape.range).toEqual(["ex", "ne", "nin", "re", "regex"]);
    expect(describeShape(shape)).toContain('"dotted.path":eq');
  });
});

describe("coverage", () => {
  it("a filter is covered when its fields are a prefix of an index, in any order", () => {
    const on = [idx({ a: 1, b: 1, c: 1 })];
    expect(covered(find({ a: 1 }), on)).toBe(true);
    expect(covered(find({ b: 1, a: 1 }), on)).toBe(true);
    expect(uncovered(find({ b: 1 }), on)).toEqual(["c.find {b:eq} sort {}"]);
    expect(uncovered(find({ a: 1, c: 1 }), on)).toEqual(["c.find {a:eq, c:eq} sort {}"]);
    expect(uncovered(find({ a: 1, d: 1 }), on)).toEqual(["c.find {a:eq, d:eq} sort {}"]);
  });

  it("follows ESR: equality keys first, then the sort, then ranges", () => {
    const command = find({ a: 1, r: { $gt: 1 } }, [["s", 1]]);
    expect(covered(command, [idx({ a: 1, s: 1, r: 1 })])).toBe(true);
    expect(covered(command, [idx({ a: 1, r: 1, s: 1 })])).toBe(false); // would sort in memory
    expect(covered(command, [idx({ s: 1, a: 1, r: 1 })])).toBe(false);
    expect(covered(find({ r: { $lt: 1 } }), [idx({ r: 1 })])).toBe(true);
    expect(covered(find({ a: 1, r: { $lt: 1 } }), [idx({ a: 1, x: 1, r: 1 })])).toBe(false);
    // A range on the sorted field is served by its sort key.
    expect(covered(find({ a: 1, s: { $gt: 1 } }, [["s", -1]]), [idx({ a: 1, s: 1 })])).toBe(true);
  });

  it("serves a sort in the index's directions or all of them reversed, never mixed", () => {
    const on = [idx({ a: 1, b: 1, c: -1 })];
    expect(
      covered(
        find({ a: 1 }, [
          ["b", 1],
          ["c", -1],
        ]),
        on,
      ),
    ).toBe(true);
    expect(
      covered(
        find({ a: 1 }, [
          ["b", -1],
          ["c", 1],
        ]),
        on,
      ),
    ).toBe(true);
    expect(
      uncovered(
        find({ a: 1 }, [
          ["b", 1],
          ["c", 1],
        ]),
        on,
      ),
    ).toEqual(["c.find {a:eq} sort {b:1, c:1}"]);
    expect(covered(find({ a: 1 }, [["c", -1]]), on)).toBe(false);
    // A sort on a field the filter pins needs no key.
    expect(covered(find({ a: 1, b: 2 }, [["b", 1]]), [idx({ a: 1, b: 1 })])).toBe(true);
  });

  it("never covers a scan: an empty filter without a sort, or an operator no index serves", () => {
    expect(uncovered(find({}), [idx({ a: 1 })])).toEqual(["c.find {} sort {}"]);
    expect(covered(find({}, [["a", 1]]), [idx({ a: 1 })])).toBe(true);
    expect(uncovered(find({ a: 1, $expr: { $gt: ["$x", "$y"] } }), [idx({ a: 1 })])).toEqual([
      "c.find {a:eq, $expr:unindexable} sort {}",
    ]);
  });

  it("covers _id equality, single or $in, whatever else the query asks", () => {
    expect(covered(find({ _id: id }), [])).toBe(true);
    expect(covered(find({ _id: { $in: [id, id] }, x: { $regex: "y" } }, [["z", 1]]), [])).toBe(true);
    expect(covered({ update: "c", updates: [{ q: { _id: id, key: "k" }, u: {} }] }, [])).toBe(true);
    expect(covered(find({ _id: { $gt: id } }), [])).toBe(true); // a range over the _id index
    expect(covered(find({ _id: { $ne: id }, a: 1 }), [])).toBe(false);
  });

  it("covers equality on every key of a unique index: it reaches one document a value", () => {
    const shape = find({ email: "x@y.z", "privacy.discoverable_by_email": true });
    expect(covered(shape, [idx({ email: 1 }, true)])).toBe(true);
    expect(uncovered(shape, [idx({ email: 1 })])).toEqual([
      'c.find {email:eq, "privacy.discoverable_by_email":eq} sort {}',
    ]);
    expect(covered(find({ a: 1, b: { $in: [1, 2] } }, [["t", -1]]), [idx({ a: 1, b: 1 }, true)])).toBe(true);
    expect(covered(find({ a: 1 }, [["t", -1]]), [idx({ a: 1, b: 1 }, true)])).toBe(false);
  });

  it("needs each $or branch covered on its own, with the fields outside the $or", () => {
    const command = find({ o: 1, $or: [{ a: 1 }, { b: { $gt: 1 } }] });
    expect(covered(command, [idx({ o: 1, a: 1 }), idx({ o: 1, b: 1 })])).toBe(true);
    expect(uncovered(command, [idx({ o: 1, a: 1 })])).toEqual(["c.find {o:eq, b:range} sort {}"]);
    const del = { delete: "c", deletes: [{ q: { $or: [{ a: id }, { b: id }] }, limit: 0 }] };
    expect(uncovered(del, [idx({ a: 1, b: 1 })])).toEqual(["c.delete {b:eq} sort {}"]);
  });

  it("merges $and parts, and crosses nested $or branches", () => {
    const command = find({ $and: [{ a: 1 }, { $or: [{ b: 1 }, { c: 1 }] }] });
    expect(shapesOf(command).map(describeShape)).toEqual([
      "c.find {a:eq, b:eq} sort {}",
      "c.find {a:eq, c:eq} sort {}",
    ]);
    expect(uncovered(command, [idx({ a: 1, b: 1 })])).toEqual(["c.find {a:eq, c:eq} sort {}"]);
  });

  it("only looks at the indexes of the queried collection", () => {
    expect(covered(find({ a: 1 }), [{ collection: "other", key: { a: 1 } }])).toBe(false);
  });
});

describe("Hush's declared indexes", () => {
  const hush = declaredIndexes(inventory);
  const without = (collection: string, key: object) =>
    hush.filter((i) => !(i.collection === collection && JSON.stringify(i.key) === JSON.stringify(key)));
  const user = new ObjectId();
  // Queries Hush sends, as the driver puts them on the wire, with the index each one needs.
  const needs: [string, object, string, object][] = [
    [
      "the one-time prekey claim",
      {
        find: "prekeys",
        filter: { user_id: user, device_id: "d", kind: "ec" },
        sort: new Map([["key_id", 1]]),
      },
      "prekeys",
      { user_id: 1, device_id: 1, kind: 1, key_id: 1 },
    ],
    [
      "the block list page",
      {
        find: "blocks",
        filter: { blocker_id: user },
        sort: new Map([
          ["created_at", -1],
          ["_id", -1],
        ]),
      },
      "blocks",
      { blocker_id: 1, created_at: -1, _id: -1 },
    ],
    [
      "the replacement of an address's earlier code",
      { delete: "otp_sessions", deletes: [{ q: { email: "a@b.c", purpose: "login" }, limit: 0 }] },
      "otp_sessions",
      { email: 1, purpose: 1 },
    ],
    [
      "the sweeper",
      { delete: "auth_sessions", deletes: [{ q: { expires_at: { $lte: new Date() } }, limit: 0 }] },
      "auth_sessions",
      { expires_at: 1 },
    ],
    [
      "account deletion's contact cleanup",
      { delete: "contacts", deletes: [{ q: { $or: [{ owner_id: user }, { contact_id: user }] }, limit: 0 }] },
      "contacts",
      { contact_id: 1 },
    ],
  ];

  for (const [what, command, collection, key] of needs) {
    it(`serve ${what}, and the check fails once its index is removed`, () => {
      expect(uncovered(command, hush)).toEqual([]);
      const fewer = without(collection, key);
      expect(fewer.length).toBe(hush.length - 1);
      expect(uncovered(command, fewer).length).toBeGreaterThan(0);
    });
  }

  it("name the uncovered query and the route that sent it, once per route", () => {
    const command = { find: "users", filter: { "profile.bio": "x" }, sort: new Map(), $db: "hush" };
    const event = { command, commandName: "find" } as any;
    requestOrigin.run("GET /api/v1/users/{user_id}", () => {
      watchCommand(event);
      watchCommand(event);
    });
    watchCommand(event);
    const report = coverageReport()!;
    expect(report).toContain('users.find {"profile.bio":eq} sort {}');
    expect(report.match(/from GET \/api\/v1\/users\/\{user_id\} at /g)).toHaveLength(1);
    expect(report).toContain("from outside a request (start-up, job or test)");
    expect(coverageReport()).toBeNull(); // taken, so this file's own check stays clean
  });
});
