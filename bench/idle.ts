import { type ChildProcess, fork } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MongoClient, ObjectId } from "mongodb";
import { FEED_MAX_DOCS, feed } from "../src/delivery/bus.js";
import { startLocalStore } from "../src/local-store.js";
import { cpuSeconds, rssMiB } from "./proc.js";

/**
 * `npm run bench:idle`: what a server with no clients costs on the local store, the server process
 * and its store together: RSS 10 s after start, then CPU over BENCH_IDLE_S (30) seconds, with the
 * realtime feed full (FEED_MAX_DOCS notices of 99 devices each, as after a busy minute). Run for
 * the store as built (a tailable getMore reads what follows its cursor) next to the baseline
 * HUSH_STORE_TAIL_ALL=1 (it reads the whole feed again each time, as FerretDB does), interleaved,
 * BENCH_IDLE_ROUNDS (2) rounds. Linux only (/proc).
 */
const SECONDS = Number(process.env.BENCH_IDLE_S ?? 30);
const ROUNDS = Number(process.env.BENCH_IDLE_ROUNDS ?? 2);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function measure(label: string, env: Record<string, string>) {
  const dir = mkdtempSync(join(tmpdir(), "hush-idle-"));
  const store = await startLocalStore(dir, () => {}, { env });
  const dbName = `hush_idle_${randomBytes(4).toString("hex")}`;
  const client = await new MongoClient(store.uri).connect();
  const db = client.db(dbName);
  await db.createCollection(feed.name, { capped: true, size: 4 * 1024 * 1024, max: FEED_MAX_DOCS });
  const hash = () => randomBytes(16).toString("base64url");
  await feed.col(db).insertMany(
    Array.from({ length: FEED_MAX_DOCS }, () => ({
      _id: new ObjectId(),
      origin: "bench",
      event: { kind: "entries" as const, targets: Array.from({ length: 99 }, (_, p) => ({ k: hash(), p })) },
    })),
  );
  const child: ChildProcess = fork(new URL("./realtime-child.ts", import.meta.url), ["hush"], {
    execArgv: ["--import", "tsx"],
    env: { ...process.env, BENCH_URI: store.uri, BENCH_DB: dbName, BENCH_SECRET: "i".repeat(32) },
  });
  await new Promise((resolve) => child.once("message", resolve));
  await sleep(10_000);
  const pids = [child.pid!, store.pid()];
  const rss = pids.map(rssMiB);
  const before = pids.map(cpuSeconds);
  await sleep(SECONDS * 1000);
  const used = pids.map((p, i) => cpuSeconds(p) - before[i]!);
  const pct = (s: number) => `${((100 * s) / SECONDS).toFixed(1)} %`;
  console.log(
    `${label.padEnd(52)} CPU ${pct(used[0]! + used[1]!)} of a core (server ${pct(used[0]!)}, store ${pct(used[1]!)});` +
      `  RSS 10 s after start: server ${rss[0]!.toFixed(0)} MiB, store ${rss[1]!.toFixed(0)} MiB`,
  );
  child.kill();
  await client.close();
  await store.stop();
  rmSync(dir, { recursive: true, force: true });
}

console.log(`idle, no clients, feed full; CPU over ${SECONDS} s; node ${process.version}`);
for (let round = 0; round < ROUNDS; round++) {
  await measure("baseline: each getMore reads the whole feed", { HUSH_STORE_TAIL_ALL: "1" });
  await measure("getMore reads what follows its cursor", {});
}
