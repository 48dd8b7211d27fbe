import type { Collection } from "mongodb";
import { beforeAll, describe, expect, it } from "vitest";
import { ownStore } from "../helpers/own-store.js";

/*
 * A query FerretDB cancels (its maxTimeMS passes; the realtime feed's awaitData getMore carries one
 * every few hundred milliseconds) must not poison the SQLite connection it ran on. With the SQLite
 * driver FerretDB v1.24 ships (modernc.org/sqlite v1.32), a cancellation landing after the first row
 * and before the query returned left the statement unfinalized, and every later statement on that
 * pooled connection failed with `interrupted (9)` for the rest of the process: requests answered
 * 500 at random under load. store/go.mod requires a driver that closes those rows (v1.40.1) and no
 * longer lets a late cancellation interrupt an unrelated query (v1.42.2).
 *
 * Short queries with a 1-3 ms maxTimeMS put the cancellation at every point of their run, a few
 * thousand times over eight pooled connections; after each round, queries without a deadline must
 * all succeed. With the old driver over a thousand of them failed (the connections stayed poisoned).
 */
const own = ownStore("cancellation", { maxPoolSize: 8 });
let c: Collection<{ _id: number; v: string }>;

beforeAll(async () => {
  c = own.db.collection("rows");
  await c.insertMany(Array.from({ length: 200 }, (_, k) => ({ _id: k, v: `row ${k % 97}` })));
});

describe("a cancelled query", () => {
  it("leaves the store answering every later query", { timeout: 240_000 }, async () => {
    let cancelled = 0;
    const failures: string[] = [];
    for (let round = 0; round < 400; round++) {
      // Eight at once, one per pooled connection.
      await Promise.all(
        Array.from({ length: 8 }, async (_, k) => {
          const maxTimeMS = 1 + ((round * 8 + k) % 3);
          try {
            await c.find({ v: { $ne: "none" } }, { maxTimeMS }).toArray();
          } catch {
            cancelled++;
          }
        }),
      );
      const after = await Promise.allSettled(
        Array.from({ length: 8 }, () => c.countDocuments({ v: "row 1" })),
      );
      for (const r of after) if (r.status === "rejected") failures.push(String(r.reason));
    }
    expect(cancelled).toBeGreaterThan(0); // the deadlines did cut queries short
    expect(failures).toEqual([]);
  });
});
