import { type ChildProcess, fork } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ed25519 } from "@noble/curves/ed25519.js";
import autocannon from "autocannon";
import { type CommandStartedEvent, ObjectId } from "mongodb";
import { createDeps } from "../src/compose.js";
import { loadConfig } from "../src/config.js";
import { connectStore, type Store } from "../src/db/store.js";
import { inventory } from "../src/inventory.js";
import { systemClock } from "../src/lib/clock.js";
import { createLogger } from "../src/lib/logger.js";
import { counters } from "../src/limits/counters.js";
import { startLocalStore } from "../src/local-store.js";
import { smtpMailer } from "../src/mail/mailer.js";
import { createServer } from "../src/server.js";
import { startSmtp } from "../test/helpers/smtp.js";
import { benchAttachments } from "./attachments.js";
import { benchEphemeral } from "./ephemeral.js";
import { benchMessages } from "./messages.js";
import { benchReads } from "./reads.js";

/**
 * `npm run bench`: figures for docs/performance.md, all on loopback and bounded in time.
 *  1. GET /healthz throughput of Hush next to a bare Hono app on @hono/node-server, measured in the
 *     same run, each server in a process of its own, loaded by autocannon from this one.
 *  2. What an authenticated request costs: the store commands of GET /auth/me, and its latency.
 *  3. A rate-limit hit, with few and with many counters stored.
 *  4. Store round trips, and sign-up for a new vs an existing address (the no-enumeration rule).
 *  5. Messages and history (bench/messages.ts), sync and the conversation list (bench/reads.ts),
 *     expiry (bench/ephemeral.ts) and attachments (bench/attachments.ts).
 * Uses MONGODB_URI if set, else a fresh local store. BENCH_HTTP_ONLY=1 stops after the first part;
 * BENCH_READS_ONLY=1 after the reads of part 5.
 */
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);
const N = Number(process.env.BENCH_N ?? 300);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

const dir = mkdtempSync(join(tmpdir(), "hush-bench-"));
const local = process.env.MONGODB_URI ? undefined : await startLocalStore(dir);
const uri = process.env.MONGODB_URI ?? local!.uri;
const dbName = `hush_bench_${randomBytes(4).toString("hex")}`;
console.log(
  `store: ${local ? "local store (FerretDB, SQLite)" : "MONGODB_URI"}; node ${process.version}; ` +
    `${SECONDS} s per load run, ${CONNECTIONS} connections, ${ROUNDS} rounds`,
);

// 1. The HTTP hot path ------------------------------------------------------------------------

interface Served {
  child: ChildProcess;
  port: number;
}
/** BENCH_BEFORE: a checkout of an earlier commit whose server is loaded next to this one's, in the same run. */
const before = process.env.BENCH_BEFORE;
function serve(kind: "bare" | "hush" | "before", level = "info"): Promise<Served> {
  const script = kind === "before" ? join(before!, "bench/serve.ts") : new URL("./serve.ts", import.meta.url);
  const child = fork(script, [kind === "before" ? "hush" : kind, level], {
    execArgv: ["--import", "tsx"],
    env: { ...process.env, BENCH_MONGODB_URI: uri, BENCH_DB: dbName },
  });
  return new Promise((resolve, reject) => {
    child.once("message", (m: { port: number }) => resolve({ child, port: m.port }));
    child.once("exit", (code) => reject(new Error(`${kind} server exited with ${code}`)));
  });
}
const cpuOf = (s: Served) =>
  new Promise<number>((resolve) => {
    s.child.once("message", (m: { cpu: NodeJS.CpuUsage }) => resolve(m.cpu.user + m.cpu.system));
    s.child.send("cpu");
  });

async function load(s: Served) {
  const url = `http://127.0.0.1:${s.port}/healthz`;
  await autocannon({ url, connections: CONNECTIONS, duration: 1 }); // warm up
  const before = await cpuOf(s);
  const r = await autocannon({ url, connections: CONNECTIONS, duration: SECONDS });
  const cpu = (await cpuOf(s)) - before;
  if (r.non2xx || r.errors) throw new Error(`${r.non2xx} non-2xx, ${r.errors} errors`);
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, cpuUs: cpu / r.requests.total };
}

const runs = [
  { label: "bare Hono on @hono/node-server", kind: "bare", level: "info" },
  { label: "Hush, LOG_LEVEL=info (lines discarded)", kind: "hush", level: "info" },
  { label: "Hush, LOG_LEVEL=warn (no access log)", kind: "hush", level: "warn" },
  ...(before
    ? [{ label: "Hush at BENCH_BEFORE, LOG_LEVEL=info", kind: "before", level: "info" } as const]
    : []),
] as const;
const best = new Map<string, Awaited<ReturnType<typeof load>>>();
const cpus = new Map<string, number[]>();
const servers = await Promise.all(runs.map((r) => serve(r.kind, r.level)));
for (let round = 0; round < ROUNDS; round++) {
  // Interleaved, best of each: drift on a shared machine hits every server alike.
  for (const [i, run] of runs.entries()) {
    const r = await load(servers[i]!);
    if (!best.has(run.label) || best.get(run.label)!.rps < r.rps) best.set(run.label, r);
    cpus.set(run.label, [...(cpus.get(run.label) ?? []), r.cpuUs]);
  }
}
for (const s of servers) s.child.kill();
const bare = best.get(runs[0].label)!.rps;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const bareCpu = median(cpus.get(runs[0].label)!);
console.log(`\nGET /healthz, best of ${ROUNDS} interleaved runs; CPU per request: the median of the runs`);
for (const { label } of runs) {
  const r = best.get(label)!;
  const cpu = median(cpus.get(label)!);
  console.log(
    `  ${label.padEnd(40)} ${r.rps.toFixed(0).padStart(6)} req/s  ${(r.rps / bare).toFixed(2)}× bare  ` +
      `p50=${r.p50}ms p99=${r.p99}ms  cpu=${cpu.toFixed(1)} µs/req (${(bareCpu / cpu).toFixed(2)}× bare by CPU)`,
  );
}

if (process.env.BENCH_HTTP_ONLY === "1") {
  await local?.stop();
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
}

// 2-4. In-process server with command monitoring ---------------------------------------------

async function time(label: string, n: number, fn: (i: number) => Promise<unknown>) {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn(i);
    ms.push(performance.now() - t);
  }
  ms.sort((a, b) => a - b);
  const q = (p: number) => ms[Math.min(ms.length - 1, Math.floor(p * ms.length))]!.toFixed(2);
  console.log(
    `  ${label.padEnd(50)} n=${String(n).padEnd(5)} p50=${q(0.5)}ms  p95=${q(0.95)}ms  p99=${q(0.99)}ms`,
  );
}

const smtp = await startSmtp();
const logger = createLogger("silent");
const config = loadConfig({
  NODE_ENV: "test",
  SMTP_URL: smtp.url,
  TRUST_PROXY: "1",
  JWT_SECRET: "b".repeat(32),
  ACCESS_TOKEN_TTL: "86400", // the messaging bench moves the clock past rate-limit windows
  ATTACHMENT_QUOTA_BYTES: String(64 * 1024 ** 3),
  REQUEST_TIMEOUT_MS: "600000", // a history page at 100,000 messages takes tens of seconds on the local store
  IDLE_TIMEOUT_MS: "600000", // and sends no byte meanwhile: the socket must not be cut as idle
});
// The wall clock, which the messaging bench may move ahead (see bench/messages.ts).
const skew = { seconds: 0 };
const clock = { now: () => new Date(systemClock.now().getTime() + skew.seconds * 1000) };
// The app as it runs: without command monitoring, which makes the driver decode every reply a
// second time for its event (only part 2's listing of a request's commands turns it on).
const appOn = (store: Store) =>
  createDeps({ config, store, clock, logger, mailer: smtpMailer(smtp.url, config.MAIL_FROM) });
const store = await connectStore(uri, dbName, logger, { inventory });
const deps = appOn(store);
const server = createServer(deps);
const { port } = await server.listen(0);
const base = `http://127.0.0.1:${port}`;
let ipN = 0;
const post = (path: string, body: unknown) =>
  fetch(base + path, {
    method: "POST",
    headers: { "content-type": "application/json", "x-forwarded-for": `10.7.${ipN >> 8}.${ipN++ & 255}` },
    body: JSON.stringify(body),
  }).then(async (r) => ({ status: r.status, body: await r.json() }));

async function signUp(email: string, username: string) {
  const s = await post("/api/v1/auth/signup", { email });
  const v = await post("/api/v1/auth/verify-otp", { session_id: s.body.session_id, otp: smtp.code(email) });
  const key = Buffer.from(ed25519.getPublicKey(ed25519.utils.randomSecretKey())).toString("base64");
  const done = await post(`/api/v1/auth/complete-signup?temp_token=${v.body.temp_token}`, {
    email,
    username,
    full_name: "Bench",
    device_info: { device_id: "bench", device_name: "Bench", public_key: key },
  });
  if (done.status !== 201) throw new Error(`sign-up failed: ${JSON.stringify(done.body)}`);
  return done.body.session_token as string;
}

const token = await signUp("bench@example.com", "bench_user");
const auth = { authorization: `Bearer ${token}` };
// The same app on a store that monitors its commands, for this one request.
const seen: string[] = [];
const watched = await connectStore(uri, dbName, logger, {
  inventory,
  onCommand: (e: CommandStartedEvent) => {
    // Not the request's: the driver's session cleanup, the feed tailer's reads.
    const on = e.command.collection ?? e.command[e.commandName];
    if (e.commandName === "endSessions" || on === "realtime_feed") return;
    const filter = Object.keys((e.command.filter ?? {}) as object).join(", ");
    seen.push(`${e.commandName} ${e.command[e.commandName]} {${filter}}`);
  },
});
const watching = createServer(appOn(watched));
const watchedAt = `http://127.0.0.1:${(await watching.listen(0)).port}`;
seen.length = 0; // what the store's start sent (its indexes) is not the request's
await fetch(`${watchedAt}/api/v1/auth/me`, { headers: auth }).then((r) => r.text());
await watching.close();
await watched.close();
console.log(`\nGET /api/v1/auth/me: ${seen.length} store commands (the gate's is the first)`);
for (const c of seen) console.log(`  ${c}`);
await time("GET /api/v1/auth/me (sequential)", N, () =>
  fetch(`${base}/api/v1/auth/me`, { headers: auth }).then((r) => r.text()),
);
await time("GET /healthz (sequential, same process)", N, () =>
  fetch(`${base}/healthz`).then((r) => r.text()),
);

console.log("\nrate-limit hit: an $inc upsert and a read, both by _id, in parallel");
const rule = { name: "bench", limit: 1_000_000, windowSeconds: 3_600 };
await time(`limiter.hit, ${await counters.col(store.db).countDocuments()} counters stored`, N, (i) =>
  deps.limiter.hit(rule, `key-${i % 10}`),
);
const expires_at = new Date(Date.now() + 86_400_000);
await counters
  .col(store.db)
  .insertMany(Array.from({ length: 5_000 }, (_, i) => ({ _id: `filler-${i}`, n: 1, expires_at })));
await time(`limiter.hit, ${await counters.col(store.db).countDocuments()} counters stored`, N, (i) =>
  deps.limiter.hit(rule, `key-${i % 10}`),
);

console.log("\nstore and sign-up");
await time("store ping (driver round trip, no HTTP)", N, () => store.db.command({ ping: 1 }));
await time("store findOne by _id (no HTTP)", N, () =>
  store.db.collection("users").findOne({ _id: new ObjectId() }),
);
// Enumeration resistance: sign-up for an existing vs a new address should cost the same.
const M = Math.min(N, 20);
const existing: string[] = [];
for (let i = 0; i < M; i++) {
  await signUp(`have${i}@example.com`, `have_${i}`);
  existing.push(`have${i}@example.com`);
}
await time("POST /auth/signup, new address (mail sent)", M, (i) =>
  post("/api/v1/auth/signup", { email: `new${i}@example.com` }),
);
await time("POST /auth/signup, existing address (mail sent)", M, (i) =>
  post("/api/v1/auth/signup", { email: existing[i] }),
);

console.log("");
// The same app in a process of its own, on the same store: the history pages are read there too.
const apart = await serve("hush");
const messaging = await benchMessages({ base, store, smtp, skew, apart: `http://127.0.0.1:${apart.port}` });
apart.child.kill();
await benchReads({ base, store, smtp, skew }, messaging);
console.log("");
if (process.env.BENCH_READS_ONLY !== "1") {
  await benchEphemeral(deps, messaging);
  if (process.env.BENCH_ATTACHMENTS !== "0") {
    console.log("");
    await benchAttachments(base, token);
  }
}

await server.close();
await store.db.dropDatabase();
await store.close();
await smtp.close();
await local?.stop();
rmSync(dir, { recursive: true, force: true });
