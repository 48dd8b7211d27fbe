import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Db, MongoClient } from "mongodb";
import { type LocalStore, startLocalStore } from "../src/local-store.js";

/**
 * The local store before and after its write gate, `_id` lookup index and filter pushdown, in one
 * run: plain FerretDB (HUSH_STORE_RAW=1: no gate, no index, only a bare {_id} pushed down, as
 * FerretDB v1.24.2 does) and the store as Hush runs it, each on a fresh directory, on loopback. Each
 * line runs on one, then at once on the other, so both see the same machine load. A figure is
 * operations per second over a fixed count or a time budget, whichever ends first.
 * BENCH_MAX_DOCS (default 100000) caps the largest collection.
 */
const MAX_DOCS = Number(process.env.BENCH_MAX_DOCS ?? 100_000);
const BUDGET_MS = 3_000;
const CONCURRENCY = 50;

type Doc = { _id: string; k: number; g: string; at: Date; n: number; pad: string };
const pad = "x".repeat(100);
const GROUPS = 100;
const doc = (i: number): Doc => ({
  _id: `doc-${i}`,
  k: i,
  g: `g${i % GROUPS}`,
  at: new Date(i * 1000),
  n: 0,
  pad,
});
const randomId = (size: number) => `doc-${Math.floor(Math.random() * size)}`;

/** Runs op(i) for i = 0.. with `workers` in parallel until `count` ops or the time budget. */
async function rate(count: number, workers: number, op: (i: number) => Promise<unknown>): Promise<string> {
  let next = 0;
  const start = performance.now();
  const deadline = start + BUDGET_MS;
  const worker = async () => {
    while (next < count && performance.now() < deadline) await op(next++);
  };
  await Promise.all(Array.from({ length: workers }, worker));
  const perSecond = next / ((performance.now() - start) / 1000);
  return `${perSecond.toFixed(perSecond < 10 ? 1 : 0).padStart(6)}/s`;
}

interface Target {
  dir: string;
  store: LocalStore;
  client: MongoClient;
  db: Db;
}

async function start(raw: boolean): Promise<Target> {
  const dir = mkdtempSync(join(tmpdir(), "hush-bench-store-"));
  const store = await startLocalStore(dir, console.log, { raw });
  const client = await new MongoClient(store.uri, { maxPoolSize: CONCURRENCY }).connect();
  return { dir, store, client, db: client.db("bench") };
}

const targets = [await start(true), await start(false)];
// Warm up the client and both stores so that the first line does not pay for it on one side only.
for (const t of targets) await rate(500, 1, () => t.db.command({ ping: 1 }));

async function line(label: string, figure: (db: Db) => Promise<string>) {
  const figures: string[] = [];
  for (const t of targets) figures.push(await figure(t.db));
  console.log(`${label.padEnd(56)}${figures[0]!.padEnd(40)}${figures[1]}`);
}

try {
  console.log(`node ${process.version}; each figure: up to a fixed count or ${BUDGET_MS / 1000} s\n`);
  console.log(`${"".padEnd(56)}${"plain FerretDB".padEnd(40)}gated store + indexes + pushdown`);
  await line("ping (the proxy's extra loopback hop)", (db) => rate(4_000, 1, () => db.command({ ping: 1 })));
  const inserts = (db: Db) => db.collection<Doc>("inserts");
  await line("insert, sequential", (db) => rate(2_000, 1, (i) => inserts(db).insertOne(doc(i))));
  await line(`insert, ${CONCURRENCY} concurrent`, (db) =>
    rate(4_000, CONCURRENCY, (i) => inserts(db).insertOne(doc(100_000 + i))),
  );
  await line("findOne by _id, sequential (~2,000+ docs)", (db) =>
    rate(2_000, 1, () => inserts(db).findOne({ _id: randomId(2_000) })),
  );
  await line(`findOne by _id, ${CONCURRENCY} concurrent (~2,000+ docs)`, (db) =>
    rate(4_000, CONCURRENCY, () => inserts(db).findOne({ _id: randomId(2_000) })),
  );

  const counter = (db: Db) => db.collection<Doc>("counter");
  const inc = (db: Db) => counter(db).updateOne({ _id: "doc-0" }, { $inc: { n: 1 } });
  await line("$inc one document, sequential", async (db) => {
    await counter(db).insertOne(doc(0));
    return rate(2_000, 1, () => inc(db));
  });
  await line(`$inc one document, ${CONCURRENCY} concurrent`, async (db) => {
    await counter(db).updateOne({ _id: "doc-0" }, { $set: { n: 0 } });
    let done = 0;
    const figure = await rate(2_000, CONCURRENCY, () => inc(db).then(() => done++));
    return `${figure}  (n=${(await counter(db).findOne({ _id: "doc-0" }))!.n} after ${done} $inc)`;
  });

  const big = (db: Db) => db.collection<Doc>("big");
  for (const t of targets) {
    await big(t.db).createIndex({ k: 1 });
    await big(t.db).createIndex({ g: 1, k: 1 });
    await big(t.db).createIndex({ at: 1 });
  }
  const someIds = (n: number) => Array.from({ length: 10 }, () => randomId(n));
  let size = 0;
  for (const target of [1_000, 10_000, 100_000].filter((n) => n <= MAX_DOCS)) {
    for (const t of targets) {
      for (let i = size; i < target; i += 1000) {
        await big(t.db).insertMany(Array.from({ length: Math.min(1000, target - i) }, (_, j) => doc(i + j)));
      }
    }
    size = target;
    await line(`findOne by _id, sequential, ${size.toLocaleString("en")} docs`, (db) =>
      rate(2_000, 1, () => big(db).findOne({ _id: randomId(size) })),
    );
    if (size >= 10_000) {
      const n = size.toLocaleString("en");
      // Plain FerretDB pushes a filter down to SQLite only when it is exactly {_id}: these read
      // everything there; the store serves them from indexes (store/pushdown).
      await line(`findOne by indexed k, sequential, ${n} docs`, (db) =>
        rate(2_000, 1, () => big(db).findOne({ k: Math.floor(Math.random() * size) })),
      );
      await line(`find {g, k: {$gte, $lt}} (10 of ${n} docs)`, (db) =>
        rate(2_000, 1, () => {
          const k = Math.floor(Math.random() * (size - 1000));
          return big(db)
            .find({ g: `g${k % GROUPS}`, k: { $gte: k, $lt: k + 10 * GROUPS } })
            .toArray();
        }),
      );
      await line(`find {at: {$lte}} (first 10 of ${n} docs by date)`, (db) =>
        rate(2_000, 1, () =>
          big(db)
            .find({ at: { $lte: new Date(9_000) } })
            .toArray(),
        ),
      );
      await line(`find {_id: {$in: 10 ids}}, ${n} docs`, (db) =>
        rate(2_000, 1, () =>
          big(db)
            .find({ _id: { $in: someIds(size) } })
            .toArray(),
        ),
      );
      await line(`updateOne by {_id, n} (compare-and-set), ${n} docs`, (db) =>
        rate(2_000, 1, () => big(db).updateOne({ _id: randomId(size), n: 0 }, { $set: { n: 0 } })),
      );
    }
  }
} finally {
  for (const t of targets) {
    await t.client.close();
    await t.store.stop();
    rmSync(t.dir, { recursive: true, force: true });
  }
}
