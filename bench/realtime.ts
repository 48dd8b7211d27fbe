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
import { createServer } from "../src/server.js";
import { openSession } from "../src/sessions/repo.js";
import { systemClock } from "../src/shared/clock.js";
import { createLogger } from "../src/shared/logger.js";
import { append, type EntryInput } from "../src/stream/append.js";
import { createUser } from "../src/users/repo.js";

/**
 * Realtime figures, printed (never asserted): send-to-receive latency at a steady rate, the
 * sustained rate until p99 passes 100 ms, fan-out to a 50-member group with 2 devices each,
 * cross-process latency, and memory per idle authenticated socket next to a bare `ws` server.
 * Uses MONGODB_URI if set, else a fresh local store. The producer is `append`, the one call every
 * stream producer ends in, made in the server's own process (see docs/performance.md).
 *
 * BENCH_SECONDS (10) sets the steady run, BENCH_SOCKETS (5000) the idle sockets.
 */
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const SOCKETS = Number(process.env.BENCH_SOCKETS ?? 5_000);

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
const logger = createLogger("silent");

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

/** A client socket that records when each entry arrives, by its name. */
function listen(url: string, token: string, seen: (name: string, at: number) => void) {
  return new Promise<WebSocket>((resolve, reject) => {
    const ws = new WebSocket(`${url}?token=${token}`);
    ws.on("message", (raw) => {
      const e = JSON.parse(raw.toString());
      if (e.type === "authenticated") resolve(ws);
      else if (e.type === "contacts_updated") seen(e.data.display_name, performance.now());
    });
    ws.once("error", reject);
  });
}

const entry = (to: { userId: ObjectId; deviceId: string }, name: string): EntryInput => ({
  user_id: to.userId,
  device_id: to.deviceId,
  type: "contacts_updated",
  data: { user_id: to.userId.toHexString(), status: "accepted", display_name: name },
  refs: [],
});

/** Sends one "message" every 1000/rate ms for `seconds`; returns each one's send-to-receive time. */
async function steady(
  deps: Deps,
  targets: { userId: ObjectId; deviceId: string }[],
  started: Map<string, number>,
  arrived: Map<string, number>,
  rate: number,
  seconds: number,
  tag: string,
) {
  const count = Math.round(rate * seconds);
  const t0 = performance.now();
  const sends: Promise<unknown>[] = [];
  for (let i = 0; i < count; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const name = `${tag}-${i}`;
    started.set(name, performance.now());
    sends.push(
      append(
        deps,
        targets.map((t) => entry(t, name)),
      ),
    );
  }
  await Promise.all(sends);
  for (let waited = 0; waited < 5_000 && arrived.size < count; waited += 20) await sleep(20);
  const lat = [...arrived].map(([name, at]) => at - started.get(name)!);
  return { lat, lost: count - arrived.size, achieved: arrived.size / ((performance.now() - t0) / 1000) };
}

console.log(`store: ${local ? "local FerretDB (SQLite)" : "MONGODB_URI"}; node ${process.version}`);
const main = await startProcess();

// 1:1: the sender's other device and the recipient's device get each message.
{
  const [sender] = await account(main.deps, 2);
  const [recipient] = await account(main.deps, 1);
  const arrived = new Map<string, number>();
  const started = new Map<string, number>();
  const ws = await listen(main.url, recipient!.token, (name, at) => arrived.set(name, at));
  const targets = [recipient!, { userId: sender!.userId, deviceId: "dev-1" }];
  await steady(main.deps, targets, started, new Map(), 20, 1, "warm");
  arrived.clear();
  const r = await steady(main.deps, targets, started, arrived, 100, SECONDS, "steady");
  console.log(
    `1:1 at 100 msg/s for ${SECONDS}s (n=${r.lat.length}, lost ${r.lost})`.padEnd(52),
    `p50=${ms(q(r.lat, 0.5))}  p99=${ms(q(r.lat, 0.99))}  max=${ms(q(r.lat, 1))}`,
  );

  let sustained = 0;
  for (const rate of [50, 100, 200, 400, 800, 1600]) {
    arrived.clear();
    const s = await steady(main.deps, targets, started, arrived, rate, 3, `rate${rate}`);
    const p99 = q(s.lat, 0.99);
    console.log(
      `  offered ${rate} msg/s: delivered ${s.achieved.toFixed(0)}/s`.padEnd(52),
      `p50=${ms(q(s.lat, 0.5))}  p99=${ms(p99)}${s.lost ? `  (lost ${s.lost})` : ""}`,
    );
    if (p99 > 100 || s.lost) break;
    sustained = rate;
  }
  console.log(`sustained rate with p99 under 100 ms: ${sustained} msg/s`);
  ws.close();
}

// Fan-out: one message to a 50-member group, 2 devices each: time until all 100 have it.
{
  const members = (await Promise.all(Array.from({ length: 50 }, () => account(main.deps, 2)))).flat();
  const got = new Map<string, number>();
  const sockets = await Promise.all(
    members.map((m) => listen(main.url, m.token, (name) => got.set(name, (got.get(name) ?? 0) + 1))),
  );
  const times: number[] = [];
  for (let i = 0; i < 20; i++) {
    const name = `fan-${i}`;
    const t = performance.now();
    await append(
      main.deps,
      members.map((m) => entry(m, name)),
    );
    while ((got.get(name) ?? 0) < members.length) await sleep(1);
    times.push(performance.now() - t);
  }
  console.log(
    "fan-out, 50 members x 2 devices (all 100 delivered), n=20".padEnd(52),
    `p50=${ms(q(times, 0.5))}  p99=${ms(q(times, 0.99))}`,
  );
  for (const s of sockets) s.close();
}

// Across processes: the socket on a second server process, the writer on the first.
{
  const second = await startProcess();
  const [recipient] = await account(main.deps, 1);
  const arrived = new Map<string, number>();
  const ws = await listen(second.url, recipient!.token, (name, at) => arrived.set(name, at));
  const r = await steady(main.deps, [recipient!], new Map(), arrived, 20, 5, "xproc");
  console.log(
    `1:1 across two processes at 20 msg/s (n=${r.lat.length}, lost ${r.lost})`.padEnd(52),
    `p50=${ms(q(r.lat, 0.5))}  p99=${ms(q(r.lat, 0.99))}`,
  );
  ws.close();
  await second.server.close();
  await second.store.close();
}

// Memory per idle authenticated socket, each server in a process of its own.
{
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
    const before = await mem();
    const sockets: WebSocket[] = [];
    for (let i = 0; i < SOCKETS; i += 50) {
      const batch = Array.from({ length: Math.min(50, SOCKETS - i) }, (_, k) => {
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
    const after = await mem();
    for (const s of sockets) s.terminate();
    child.kill();
    return {
      rss: (after.rss - before.rss) / SOCKETS,
      heap: (after.heapUsed + after.external - before.heapUsed - before.external) / SOCKETS,
      total: after.rss,
    };
  };
  const bare = await measure("bare");
  const hush = await measure("hush");
  const kib = (b: number) => `${(b / 1024).toFixed(1)} KiB`;
  console.log(
    `memory per idle socket at ${SOCKETS} (RSS; heap+external)`.padEnd(52),
    `hush ${kib(hush.rss)}; ${kib(hush.heap)}   bare ws ${kib(bare.rss)}; ${kib(bare.heap)}   ` +
      `(ratio ${(hush.rss / bare.rss).toFixed(2)}x RSS, ${(hush.heap / bare.heap).toFixed(2)}x heap; hush process ${mib(hush.total)})`,
  );
}

await main.server.close();
await main.store.db.dropDatabase();
await main.store.close();
await local?.stop();
rmSync(dir, { recursive: true, force: true });
process.exit(0);
