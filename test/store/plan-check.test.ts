import { beforeAll, describe, expect, it } from "vitest";
import { ownStore } from "../helpers/own-store.js";
import { checkPlan, queryOf } from "../helpers/plan-check.js";

// The suite's plan check (test/helpers/plan-check.ts) on a real local store: it passes a query the
// store answers by index searches that stop at the page, and refuses each kind of query that reads
// documents its answer does not need.

const own = ownStore("plans");

beforeAll(async () => {
  const things = own.db.collection("things");
  await things.createIndex({ c: 1, n: 1 });
  await things.insertMany(
    Array.from({ length: 50 }, (_, i) => ({ c: i % 2 ? "odd" : "even", n: i, other: i })),
  );
});

const check = (command: Record<string, unknown>) => {
  const q = queryOf({ ...command, $db: "plans" });
  if (!q) throw new Error("no query");
  return checkPlan(own.db, q);
};

describe("the local store's plan check", () => {
  it("passes index searches, a page that stops at its limit, and writes found by index", async () => {
    expect(
      await check({ find: "things", filter: { c: "odd", n: { $lt: 30 } }, sort: { n: -1 }, limit: 5 }),
    ).toBe(null);
    expect(await check({ find: "things", filter: { c: "odd" }, sort: { n: 1 } })).toBe(null);
    expect(
      await check({ update: "things", updates: [{ q: { c: "even", n: 4 }, u: { $set: { x: 1 } } }] }),
    ).toBe(null);
    expect(await check({ aggregate: "things", pipeline: [{ $match: { c: "odd" } }, { $count: "n" }] })).toBe(
      null,
    );
  });

  it("refuses a filter no index serves, a scan, and a sort and limit done in Go", async () => {
    expect(await check({ find: "things", filter: { other: 3 } })).toMatch(/not pushed down/);
    expect(await check({ delete: "things", deletes: [{ q: { other: { $gt: 40 } }, limit: 0 }] })).toMatch(
      /not pushed down/,
    );
    expect(await check({ find: "things", filter: {}, sort: { _id: -1 }, limit: 1 })).toMatch(/scans/);
    // No condition on the sort key: every "even" document is read and sorted in Go.
    expect(await check({ find: "things", filter: { c: "even" }, sort: { n: -1 }, limit: 3 })).toMatch(
      /sort and limit are applied in Go/,
    );
  });
});
