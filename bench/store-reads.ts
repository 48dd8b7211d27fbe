import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { MongoClient, ObjectId } from "mongodb";
import { type LocalStore, STORE_BUILD_FLAGS, startLocalStore } from "../src/local-store.js";
import { line, quantiles, timed } from "./messages.js";
import { cpuWhile, rssMiB } from "./proc.js";
import { storedMessages } from "./stored.js";

/**
 * What the local store costs to read documents, this checkout's build next to another's, in one
 * run (docs/performance.md, "Reading documents on the local store"). `npm run bench:store-reads`,
 * with BENCH_STORE_BEFORE=<a checkout of Hush> for the other side (built from that checkout's
 * store/ with its own build), or =<a store binary> built from one; without it, this checkout's
 * store alone. Each store gets the same BENCH_SIZE (10,000) messages and as many wrapped keys,
 * shaped as Hush stores them, and answers the reads of a history page straight from the driver (no
 * HTTP, no Hush): the newest 51 messages, the 51 keys of one device for them, and one message by
 * `_id`. BENCH_ROUNDS (3) rounds of BENCH_N (300) of each read, the stores taking turns each round.
 * Then each store's RSS.
 */
const SIZE = Number(process.env.BENCH_SIZE ?? 10_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const N = Number(process.env.BENCH_N ?? 300);
const before = process.env.BENCH_STORE_BEFORE;

interface Side {
  name: string;
  store: LocalStore;
  client: MongoClient;
  reads: Record<string, () => Promise<unknown>>;
}

const dir = mkdtempSync(join(tmpdir(), "hush-bench-store-reads-"));
const sides: Side[] = [];
try {
  if (before && statSync(before).isFile()) sides.push(await side(`before (${before})`, before));
  else if (before) {
    // The other checkout's own build (its patches, its flags), into this run's folder.
    const other = await import(resolve(before, "src/local-store.ts"));
    const bin = join(dir, "store-before");
    console.log(`building the store of ${before}`);
    other.buildStore(bin, other.STORE_BUILD_FLAGS ?? STORE_BUILD_FLAGS);
    sides.push(await side(`before (${before})`, bin));
  }
  sides.push(await side("this checkout", undefined));
  for (let round = 0; round < ROUNDS; round++) {
    for (const s of sides) {
      for (const [name, read] of Object.entries(s.reads)) {
        let ms: number[] = [];
        const cpu = await cpuWhile([s.store.pid()], async () => {
          ms = await timed(N, read);
        });
        line(`${s.name}: ${name}`, `${quantiles(ms)}  store CPU ${(cpu / N).toFixed(2)} ms a read`);
      }
    }
  }
  for (const s of sides)
    line(`${s.name}: store RSS after the reads`, `${rssMiB(s.store.pid()).toFixed(0)} MiB`);
} finally {
  for (const s of sides) {
    await s.client.close();
    await s.store.stop();
  }
  rmSync(dir, { recursive: true, force: true });
}

async function side(name: string, bin: string | undefined): Promise<Side> {
  const store = await startLocalStore(join(dir, name.replace(/\W+/g, "-")), console.log, { bin });
  const client = await new MongoClient(store.uri).connect();
  const db = client.db("bench");
  const messages = db.collection("messages");
  const keys = db.collection("message_keys");
  await messages.createIndex({ conversation_id: 1, seq: 1 }, { unique: true });
  await keys.createIndex({ conversation_id: 1, user_id: 1, device_id: 1, seq: 1 });
  const conversation = new ObjectId();
  const reader = new ObjectId();
  const into = {
    conversation,
    sender: new ObjectId(),
    senderDevice: "phone",
    reader,
    readerDevice: "laptop",
  };
  for (let from = 0; from < SIZE; from += 1000) {
    const { docs, keys: wrapped } = storedMessages(into, from + 1, Math.min(SIZE, from + 1000));
    await messages.insertMany(docs);
    await keys.insertMany(wrapped);
  }
  const one = (await messages.findOne({ seq: SIZE >> 1 }))!._id;
  const range = { $gt: 0, $lt: Number.MAX_SAFE_INTEGER };
  const reads = {
    [`newest 51 of ${SIZE} messages`]: async () => {
      const found = await messages
        .find({ conversation_id: conversation, seq: range })
        .sort({ seq: -1 })
        .limit(51)
        .toArray();
      if (found.length !== 51) throw new Error(`found ${found.length} messages`);
    },
    "their 51 keys for one device": () =>
      keys
        .find({ conversation_id: conversation, user_id: reader, device_id: "laptop", seq: range })
        .sort({ seq: -1 })
        .limit(51)
        .toArray(),
    "one message by _id": () => messages.findOne({ _id: one }),
  };
  for (const read of Object.values(reads)) await timed(20, read); // warm up
  return { name, store, client, reads };
}
