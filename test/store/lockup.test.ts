import { expect, it } from "vitest";
import { ownStore } from "../helpers/own-store.js";

/**
 * Issue 20, item 7, the local store "locked up for good (every SQLite connection held idle, every
 * write waiting behind the gate)". The cause: FerretDB v1.24's `update` command kept each
 * statement's query open until the whole command ended, one SQLite connection per statement, and
 * each statement's write needs one more; a bulkWrite of 100 or more updates (the presence
 * heartbeat sends 100 at a time) waited forever for a connection of the pool's 100, holding the
 * write gate (docs/stores.md, "The write gate"). store/_ferretdb_patch/handler.patch closes each
 * statement's query before the next. The gate's bound is lowered here so that, without the patch,
 * the stuck command is cut (a network error) in 5 s rather than 30.
 */
const own = ownStore("lockup", { socketTimeoutMS: 20_000 }, { env: { HUSH_STORE_GATE_HOLD_MS: "5000" } });

it("an update command of 250 statements (a bulkWrite) completes, and writes go on after it", async () => {
  const c = own.db.collection<{ _id: number; n: number }>("heads");
  await c.insertMany(Array.from({ length: 250 }, (_, i) => ({ _id: i, n: 0 })));
  const res = await c.bulkWrite(
    Array.from({ length: 250 }, (_, i) => ({
      updateOne: { filter: { _id: i }, update: { $inc: { n: 1 } } },
    })),
    { ordered: false },
  );
  expect(res.modifiedCount).toBe(250);
  expect(await c.countDocuments({ n: 1 })).toBe(250);
  await c.updateOne({ _id: 0 }, { $inc: { n: 1 } });
  expect(await c.findOne({ _id: 0 })).toEqual({ _id: 0, n: 2 });
}, 60_000);
