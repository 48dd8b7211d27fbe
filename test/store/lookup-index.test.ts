import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Db, MongoClient, ObjectId } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalStore, type LocalStoreOptions, startLocalStore } from "../../src/local-store.js";

// FerretDB's explain runs SQLite's EXPLAIN QUERY PLAN on the very query it sends for a find, so it
// shows whether an _id lookup searches the store's lookup index or scans the table.
// EXPLAIN does not make a SQLite connection notice a schema change (a real query does, and is
// planned again), and the index is created on the store's own connection: `plan` therefore looks
// the document up first, on the pooled connection FerretDB then reuses for the explain.
const dirs: string[] = [];
const open: { store: LocalStore; client: MongoClient }[] = [];

async function start(dir: string, options: LocalStoreOptions = {}) {
  const store = await startLocalStore(dir, undefined, options);
  const client = await new MongoClient(store.uri).connect();
  const entry = { store, client };
  open.push(entry);
  return {
    db: (name: string) => client.db(name),
    stop: async () => {
      open.splice(open.indexOf(entry), 1);
      await client.close();
      await store.stop();
    },
  };
}

function freshDir() {
  const dir = mkdtempSync(join(tmpdir(), "hush-store-index-"));
  dirs.push(dir);
  return dir;
}

async function plan(db: Db, collection: string, id: unknown): Promise<string> {
  await db.collection(collection).findOne({ _id: id as never });
  const res = await db.command({ explain: { find: collection, filter: { _id: id } } });
  return (res.queryPlanner.Plan as string[]).join("\n");
}

const usesIndex = /SEARCH \S+ USING INDEX _ferretdb_hush_id_/;

type Doc = { _id: string; n?: number };
const docs = (db: Db, name: string) => db.collection<Doc>(name);

let store: Awaited<ReturnType<typeof start>>;
let db: Db;
beforeAll(async () => {
  store = await start(freshDir());
  db = store.db("lookups");
});
afterAll(async () => {
  for (const { store, client } of open.splice(0)) {
    await client.close();
    await store.stop();
  }
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe("_id lookups on the local store use an index", () => {
  it("for collections created by insert, upsert, findAndModify, create and createIndexes", async () => {
    await docs(db, "by_insert").insertOne({ _id: "a" });
    await docs(db, "by_upsert").updateOne({ _id: "a" }, { $set: { n: 1 } }, { upsert: true });
    await docs(db, "by_find_and_modify").findOneAndUpdate({ _id: "a" }, { $set: { n: 1 } }, { upsert: true });
    await db.createCollection("by_create");
    await docs(db, "by_create_indexes").createIndex({ n: 1 });
    for (const name of ["by_insert", "by_upsert", "by_find_and_modify", "by_create", "by_create_indexes"]) {
      expect(await plan(db, name, "a"), name).toMatch(usesIndex);
    }
  });

  it("for ObjectId and string ids, in capped collections too", async () => {
    const id = new ObjectId();
    await db.collection("object_ids").insertOne({ _id: id });
    expect(await plan(db, "object_ids", id)).toMatch(usesIndex);
    await db.createCollection("capped", { capped: true, size: 1 << 16 });
    expect(await plan(db, "capped", "x")).toMatch(usesIndex);
  });

  it("for a collection dropped and created again, and in a database dropped and created again", async () => {
    const other = store.db("lookups_dropped");
    await docs(other, "c").insertOne({ _id: "a" });
    await docs(other, "c").drop();
    await docs(other, "c").insertOne({ _id: "b" });
    expect(await plan(other, "c", "b")).toMatch(usesIndex);
    await other.dropDatabase();
    await docs(other, "c").insertOne({ _id: "c" });
    expect(await plan(other, "c", "c")).toMatch(usesIndex);
    expect(await docs(other, "c").find().toArray()).toEqual([{ _id: "c" }]);
  });

  it("for collections written by plain FerretDB, once the store starts on their data", async () => {
    const dir = freshDir();
    const raw = await start(dir, { raw: true });
    await docs(raw.db("old"), "c").insertOne({ _id: "a", n: 1 });
    // Plain FerretDB's own _id index is on another expression than its lookups: they scan.
    expect(await plan(raw.db("old"), "c", "a")).toMatch(/SCAN/);
    await raw.stop();

    const gated = await start(dir);
    expect(await plan(gated.db("old"), "c", "a")).toMatch(usesIndex);
    expect(await docs(gated.db("old"), "c").findOne({ _id: "a" })).toEqual({ _id: "a", n: 1 });
    await gated.stop();
  });
});

describe("the local store's data", () => {
  it("survives a restart", async () => {
    const dir = freshDir();
    const first = await start(dir);
    const kept = docs(first.db("kept"), "c");
    await kept.insertMany(Array.from({ length: 20 }, (_, i) => ({ _id: `d${i}`, n: i })));
    await kept.updateOne({ _id: "d3" }, { $inc: { n: 100 } });
    await first.stop();

    const second = await start(dir);
    const back = await docs(second.db("kept"), "c").find().sort({ n: 1 }).toArray();
    expect(back.map((d) => d._id)).toEqual([
      ...Array.from({ length: 20 }, (_, i) => `d${i}`).filter((id) => id !== "d3"),
      "d3",
    ]);
    expect(back.at(-1)).toEqual({ _id: "d3", n: 103 });
    await second.stop();
  });
});
