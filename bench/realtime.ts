import { fork } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ed25519 } from "@noble/curves/ed25519.js";
import type { ObjectId } from "mongodb";
import { WebSocket } from "ws";
import { createDeps } from "../src/compose.js";
import { loadConfig } from "../src/config.js";
import { startLocalStore } from "../src/db/local-store.js";
import { connectStore } from "../src/db/store.js";
import type { Deps } from "../src/deps.js";
import { registerDevice } from "../src/devices/repo.js";
import { inventory } from "../src/inventory.js";
import { consoleMailer } from "../src/mail/mailer.js";
import { sendMessage } from "../src/messages/send.js";
import { createServer } from "../src/server.js";
import { openSession } from "../src/sessions/repo.js";
import { systemClock } from "../src/shared/clock.js";
import { createLogger } from "../src/shared/logger.js";
import { append } from "../src/stream/append.js";
import { createUser } from "../src/users/repo.js";

/**
 * Realtime figures, printed (never asserted): send-to-receive latency at a steady rate, the
 * sustained rate until p99 passes 100 ms, fan-out to a 50-member group with 2 devices each,
 * cross-process latency, and memory per idle authenticated socket next to a bare `ws` server.
 * Uses MONGODB_URI if set, else a fresh local store.
 *
 * Messages are sent with `sendMessage`, in the server's process: what POST /api/v1/messages and
 * the socket's send_message run after their rate limit (100 a minute per user, which a steady 100
 * a second from one sender would pass at once). Received means: the recipient's `ws` client has
 * parsed the new_message frame. Ciphertext and wrapped keys are random bytes: the server never
 * opens them.
 *
 * BENCH_SECONDS (10) sets the steady run, BENCH_SOCKETS (5000) the idle sockets, BENCH_PARTS the
 * parts to run (entries,messages,xproc,memory).
 */
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const SOCKETS = Number(process.env.BENCH_SOCKETS ?? 5_000);
/** BENCH_PARTS: which of entries,messages,xproc,memory to run (all by default). */
const PARTS = new Set((process.env.BENCH_PARTS ?? "entries,messages,xproc,memory").split(","));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const q = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))]! : Number.NaN;
};
const ms = (x: number) => `${x.toFixed(1)}ms`;
const mib = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MiB`;

const dir = mkdtempSync(join(tmpdir(), "hush-bench-rt-"));
const local = process.env.MONGODB_URI ? undefined : await startLocalStore(dir);
const uri = process.env.MONGODB_URI ?? local!.uri;
const dbName = `hush_bench_rt_${randomBytes(4).toString("hex")}`;
const secret = randomBytes(32).toString("hex");
const logger = createLogger(process.env.BENCH_LOG === "error" ? "error" : "silent");

async function startProcess() {
  const config = loadConfig({ NODE_ENV: "test", JWT_SECRET: secret, WS_MAX_SOCKETS_PER_USER: "10000" });
  const store = await connectStore(uri, dbName, logger, { inventory });
  const deps = createDeps({ config, store, clock: systemClock, logger, mailer: consoleMailer(logger) });
  const server = createServer(deps);
  const { port } = await server.listen(0);
  return { deps, server, store, url: `ws://127.0.0.1:${port}/api/v1/ws` };
}

let n = 0;
/** An account with `devices` devices, each with a session, made through the repositories. */
async function account(deps: Deps, devices: number) {
  const id = n++;
  const user = await createUser(
    deps,
    { email: `rt${id}@bench.local`, username: `rt_${id}`, full_name: "Bench" },
    async () => {},
  );
  const out: { userId: ObjectId; deviceId: string; token: string }[] = [];
  for (let d = 0; d < devices; d++) {
    const public_key = Buffer.from(ed25519.getPublicKey(ed25519.utils.randomSecretKey())).toString("base64");
    const deviceId = `dev-${d}`;
    await registerDevice(
      deps,
      user._id,
      { device_id: deviceId, device_name: "Bench", public_key },
      async () => {},
    );
    const { session_token } = await openSession(deps, user._id, deviceId);
    out.push({ userId: user._id, deviceId, token: session_token });
  }
  return out;
}

/** A client socket that records when each new_message arrives, by its ciphertext (unique per send). */
function listen(url: string, token: string, seen: (tag: string, at: number) => void) {
  return new Promise<WebSocket>((resolve, reject) => {
    const ws = new WebSocket(`${url}?token=${token}`);
    ws.on("message", (raw) => {
      const e = JSON.parse(raw.toString());
      if (e.type === "authenticated") resolve(ws);
      else if (e.type === "new_message") seen(e.data.message.encrypted_content, performance.now());
      else if (e.type === "contacts_updated") seen(e.data.display_name, performance.now());
    });
    ws.once("error", reject);
  });
}

type Account = Awaited<ReturnType<typeof account>>;
const auth = (d: Account[number]) => ({ userId: d.userId, deviceId: d.deviceId, sessionId: d.userId });
const bytes = (n: number) => randomBytes(n).toString("base64");

async function conversation(
  p: Awaited<ReturnType<typeof startProcess>>,
  creator: Account,
  others: Account[],
) {
  const http = p.url.replace("ws://", "http://").replace("/api/v1/ws", "");
  const body =
    others.length === 1
      ? { participant_id: others[0]![0]!.userId.toHexString() }
      : {
          name: "Bench",
          participant_ids: others.map((o) => o[0]!.userId.toHexString()),
        };
  const res = await fetch(`${http}/api/v1/conversations${others.length === 1 ? "" : "/groups"}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${creator[0]!.token}` },
    body: JSON.stringify(body),
  });
  if (res.status >= 300) throw new Error(`conversation ${res.status} ${await res.text()}`);
  return ((await res.json()) as { id: string }).id;
}

type Mode = "messages" | "entries";

/**
 * Sends from the first device of `from` to every other device of the conversation; resolves when
 * stored. `messages` runs the whole send path; `entries` only the realtime layer (`append`, the
 * one call every stream producer ends in), with an entry of the same size.
 */
function sender(mode: Mode, deps: Deps, from: Account, conversationId: string, everyone: Account[]) {
  const targets = everyone
    .flat()
    .filter((d) => !(d.userId.equals(from[0]!.userId) && d.deviceId === from[0]!.deviceId));
  const keys = targets.map((d) => ({
    user_id: d.userId.toHexString(),
    device_id: d.deviceId,
    encrypted_key: bytes(48),
  }));
  if (mode === "entries") {
    return (tag: string) =>
      append(
        deps,
        targets.map((d) => ({
          user_id: d.userId,
          device_id: d.deviceId,
          type: "contacts_updated" as const,
          data: { user_id: d.userId.toHexString(), status: "accepted" as const, display_name: tag },
          refs: [],
        })),
      );
  }
  return (tag: string) =>
    sendMessage(deps, auth(from[0]!), {
      conversation_id: conversationId,
      encrypted_content: tag,
      content_type: "text",
      recipient_keys: keys,
      is_ephemeral: false,
      view_once: false,
    });
}

/** Sends `rate` messages a second for `seconds`; returns each one's send-to-receive time. */
async function steady(
  send: (tag: string) => Promise<unknown>,
  arrived: Map<string, number>,
  rate: number,
  seconds: number,
) {
  const count = Math.round(rate * seconds);
  let failed = 0;
  const started = new Map<string, number>();
  const t0 = performance.now();
  const sends: Promise<unknown>[] = [];
  for (let i = 0; i < count; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const tag = bytes(24);
    started.set(tag, performance.now());
    sends.push(send(tag).catch(() => failed++));
  }
  await Promise.all(sends);
  for (let waited = 0; waited < 10_000 && [...started.keys()].some((t) => !arrived.has(t)); waited += 20)
    await sleep(20);
  const lat = [...started].filter(([t]) => arrived.has(t)).map(([t, at]) => arrived.get(t)! - at);
  const last = Math.max(t0 + 1, ...[...started.keys()].map((t) => arrived.get(t) ?? 0));
  return { lat, lost: count - lat.length, failed, achieved: lat.length / ((last - t0) / 1000) };
}

console.log(`store: ${local ? "local FerretDB (SQLite)" : "MONGODB_URI"}; node ${process.version}`);
const main = await startProcess();

/** The steady rate, the sustained rate and the fan-out, for one producer. */
async function figures(mode: Mode, rate: number) {
  // 1:1: the recipient's device and the sender's other device get each message.
  {
    const a = await account(main.deps, 2);
    const b = await account(main.deps, 1);
    const id = await conversation(main, a, [b]);
    const send = sender(mode, main.deps, a, id, [a, b]);
    const arrived = new Map<string, number>();
    const ws = await listen(main.url, b[0]!.token, (tag, at) => arrived.set(tag, at));
    await steady(send, new Map(), 10, 1); // warm up
    let sustained = 0;
    for (const step of [10, 25, 50, 100, 200, 400, 800, 1600]) {
      arrived.clear();
      const s = await steady(send, arrived, step, 3);
      const p99 = q(s.lat, 0.99);
      console.log(
        `  offered ${step}/s: delivered ${s.achieved.toFixed(0)}/s`.padEnd(52),
        `p50=${ms(q(s.lat, 0.5))}  p99=${ms(p99)}${s.lost ? `  (not delivered ${s.lost}, of which ${s.failed} failed to send)` : ""}`,
      );
      if (p99 > 100 || s.lost) break;
      sustained = step;
    }
    console.log(`${mode}: sustained rate with p99 under 100 ms: ${sustained}/s`);
    const r = await steady(send, arrived, rate, SECONDS);
    console.log(
      `${mode}: 1:1 at ${rate}/s for ${SECONDS}s (n=${r.lat.length}, failed ${r.failed}, lost ${r.lost - r.failed})`.padEnd(
        52,
      ),
      `p50=${ms(q(r.lat, 0.5))}  p99=${ms(q(r.lat, 0.99))}  max=${ms(q(r.lat, 1))}`,
    );

    ws.close();
  }

  // Fan-out: one message to a 50-member group, 2 devices each: time until every other device has it.
  {
    const members = await Promise.all(Array.from({ length: 50 }, () => account(main.deps, 2)));
    const id = await conversation(main, members[0]!, members.slice(1));
    const send = sender(mode, main.deps, members[0]!, id, members);
    const got = new Map<string, number>();
    const receivers = members.flat().slice(1); // every device but the sending one
    const sockets = await Promise.all(
      receivers.map((d) => listen(main.url, d.token, (tag) => got.set(tag, (got.get(tag) ?? 0) + 1))),
    );
    const times: number[] = [];
    for (let i = 0; i < 20; i++) {
      const tag = bytes(24);
      const t = performance.now();
      try {
        await send(tag);
      } catch {
        continue; // a store error, counted as a missing figure
      }
      while ((got.get(tag) ?? 0) < receivers.length && performance.now() - t < 10_000) await sleep(1);
      if ((got.get(tag) ?? 0) === receivers.length) times.push(performance.now() - t);
    }
    console.log(
      `${mode}: fan-out, 50 members x 2 devices (all ${receivers.length} delivered), n=${times.length}`.padEnd(
        52,
      ),
      `p50=${ms(q(times, 0.5))}  p99=${ms(q(times, 0.99))}`,
    );
    if (mode === "entries") {
      // The store's own floor for it: one insert of as many documents of the same size.
      const floor: number[] = [];
      const scratch = main.store.db.collection("bench_scratch");
      for (let i = 0; i < 20; i++) {
        const t = performance.now();
        await scratch.insertMany(
          receivers.map((d) => ({ user_id: d.userId, device_id: d.deviceId, data: bytes(60) })),
        );
        floor.push(performance.now() - t);
      }
      console.log(
        `  the store alone: one insert of ${receivers.length} documents, n=20`.padEnd(52),
        `p50=${ms(q(floor, 0.5))}  p99=${ms(q(floor, 0.99))}`,
      );
    }
    for (const s of sockets) s.close();
  }
}

if (PARTS.has("entries")) await figures("entries", 100);
if (PARTS.has("messages")) await figures("messages", 100);

// Across processes: the recipient's socket on a second server process, the sender on the first.
if (PARTS.has("xproc")) {
  const second = await startProcess();
  const a = await account(main.deps, 1);
  const b = await account(main.deps, 1);
  const id = await conversation(main, a, [b]);
  const arrived = new Map<string, number>();
  const ws = await listen(second.url, b[0]!.token, (tag, at) => arrived.set(tag, at));
  const r = await steady(sender("entries", main.deps, a, id, [a, b]), arrived, 20, 5);
  console.log(
    `entries: 1:1 across two processes at 20 msg/s (n=${r.lat.length}, lost ${r.lost})`.padEnd(52),
    `p50=${ms(q(r.lat, 0.5))}  p99=${ms(q(r.lat, 0.99))}`,
  );
  ws.close();
  await second.server.close();
  await second.store.close();
}

// Memory per idle authenticated socket, each server in a process of its own.
if (PARTS.has("memory")) {
  const users = await Promise.all(
    Array.from({ length: Math.ceil(SOCKETS / 100) }, () => account(main.deps, 1)),
  );
  const tokens = users.map((u) => u[0]!.token);
  const measure = async (mode: "hush" | "bare") => {
    const child = fork(new URL("./realtime-child.ts", import.meta.url).pathname, [mode], {
      execArgv: ["--expose-gc", "--import", "tsx"],
      env: { ...process.env, BENCH_URI: uri, BENCH_DB: dbName, BENCH_SECRET: secret },
    });
    type Mem = { port: number; rss: number; heapUsed: number; external: number };
    const next = () => new Promise<Mem>((r) => child.once("message", (m) => r(m as Mem)));
    const { port } = await next();
    const mem = async () => {
      await sleep(500);
      child.send("mem");
      return next();
    };
    const sockets: WebSocket[] = [];
    const open = async (upTo: number) => {
      for (let i = sockets.length; i < upTo; i += 50) {
        const batch = Array.from({ length: Math.min(50, upTo - i) }, (_, k) => {
          const token = tokens[(i + k) % tokens.length]!;
          return new Promise<WebSocket>((resolve, reject) => {
            const ws = new WebSocket(`ws://127.0.0.1:${port}/api/v1/ws?token=${token}`);
            ws.once(mode === "hush" ? "message" : "open", () => resolve(ws));
            ws.once("error", reject);
          });
        });
        sockets.push(...(await Promise.all(batch)));
      }
      await sleep(2_000); // presence records and announcements settle
      return mem();
    };
    // Heap per socket from the second half only: what the first half grew once (connection pools,
    // caches, the sockets' own first allocations) is left out of the slope.
    // Warm up (code compiled, the store's connection pool grown), then measure from there.
    await open(Math.min(500, SOCKETS / 2));
    for (const s of sockets.splice(0)) s.terminate();
    await sleep(1_000);
    const base = await mem();
    const half = await open(SOCKETS / 2);
    const full = await open(SOCKETS);
    for (const s of sockets) s.terminate();
    child.kill();
    const n = SOCKETS - SOCKETS / 2;
    return {
      // RSS moves in allocator-sized steps (and shrinks when a GC hands pages back): whole range.
      rss: (full.rss - base.rss) / SOCKETS,
      heap: (full.heapUsed + full.external - half.heapUsed - half.external) / n,
      total: full.rss,
    };
  };
  const bare = await measure("bare");
  const hush = await measure("hush");
  const kib = (b: number) => `${(b / 1024).toFixed(1)} KiB`;
  console.log(
    `memory per idle socket at ${SOCKETS}`.padEnd(52),
    `heap+external ${kib(hush.heap)} (bare ws ${kib(bare.heap)}, ${(hush.heap / bare.heap).toFixed(2)}x)   ` +
      `RSS ${kib(hush.rss)} (bare ws ${kib(bare.rss)}, ${(hush.rss / bare.rss).toFixed(2)}x)   hush process ${mib(hush.total)}`,
  );
}

await main.server.close();
await main.store.db.dropDatabase();
await main.store.close();
await local?.stop();
rmSync(dir, { recursive: true, force: true });
process.exit(0);
