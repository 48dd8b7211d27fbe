import { type ChildProcess, fork, spawn } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createDeps } from "../src/compose.js";
import { loadConfig } from "../src/config.js";
import { connectStore } from "../src/db/store.js";
import { inventory } from "../src/inventory.js";
import { systemClock } from "../src/lib/clock.js";
import { createLogger } from "../src/lib/logger.js";
import { startLocalStore } from "../src/local-store.js";
import { smtpMailer } from "../src/mail/mailer.js";
import { createServer } from "../src/server.js";
import { startSmtp } from "../test/helpers/smtp.js";
import { cpuSeconds, cpuWhile, rssMiB } from "./proc.js";

/**
 * `npm run bench:synapse`: Hush next to Synapse on the same box, in one run, with the same client
 * (fetch, timed one request after another). Never part of `npm test` or `npm run bench`: it needs
 * a Synapse installed outside the project (docs/performance.md, "Side by side with Synapse", says how):
 * SYNAPSE_PYTHON (the python of its venv) and SYNAPSE_CONFIG (its homeserver.yaml, SQLite store,
 * `registration_shared_secret` set, the message rate limit raised for the seeding).
 *  1. Idle, each server fresh and with no clients: RSS 10 s after start, then CPU over BENCH_IDLE_S
 *     (30) s, from /proc. Hush: the server process and its local store together.
 *  2. History: one conversation of BENCH_SYNAPSE_HISTORY (10,000) messages on each, the newest 50
 *     read by the member who did not send them (Hush: GET .../messages?limit=50; Synapse:
 *     GET /_matrix/client/v3/rooms/{room}/messages?dir=b&limit=50), interleaved: BENCH_ROUNDS (3)
 *     rounds of BENCH_HISTORY_N (30) pages each. Synapse's messages are sent over its API, 8 in
 *     flight; Hush's are stored directly, as bench/messages.ts does (its send limit is 100 a minute).
 *     Hush's pages are read twice over: from a server in a process of its own on the same store
 *     (bench/realtime-child.ts), as Synapse runs, and from the one in the bench's process, which
 *     takes turns with the client on one thread.
 * Linux only (/proc).
 */
const PYTHON = process.env.SYNAPSE_PYTHON;
const CONFIG = process.env.SYNAPSE_CONFIG;
if (!PYTHON || !CONFIG) {
  console.error(
    "SYNAPSE_PYTHON and SYNAPSE_CONFIG are needed (docs/performance.md, 'Side by side with Synapse')",
  );
  process.exit(2);
}
const IDLE_S = Number(process.env.BENCH_IDLE_S ?? 30);
const SIZE = Number(process.env.BENCH_SYNAPSE_HISTORY ?? 10_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const PAGES = Number(process.env.BENCH_HISTORY_N ?? 30);
// bench/messages.ts reads these when it loads: one history of SIZE, few sends.
process.env.BENCH_HISTORY ??= String(SIZE);
process.env.BENCH_SENDS ??= "40";
process.env.BENCH_LATENCY_N ??= "20";
const { benchMessages, line, median, quantiles, timed } = await import("./messages.js");

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** RSS `10 s` after `started`, then CPU over IDLE_S seconds, of these processes together. */
async function idle(label: string, started: number, pids: number[]) {
  await sleep(Math.max(0, started + 10_000 - Date.now()));
  const rss = pids.map(rssMiB).reduce((a, b) => a + b, 0);
  const before = pids.map(cpuSeconds);
  await sleep(IDLE_S * 1000);
  const used = pids.map((p, i) => cpuSeconds(p) - before[i]!).reduce((a, b) => a + b, 0);
  line(
    `${label}: idle, no clients`,
    `CPU ${((100 * used) / IDLE_S).toFixed(1)} % of a core;  RSS 10 s after start ${rss.toFixed(0)} MiB`,
  );
}

// 1. Synapse ---------------------------------------------------------------------------------

const yaml = readFileSync(CONFIG, "utf8");
const port = Number(/port:\s*(\d+)/.exec(yaml)?.[1] ?? 8008);
const secret = /registration_shared_secret:\s*"?([^"\n]+)"?/.exec(yaml)?.[1];
if (!secret) throw new Error(`${CONFIG} has no registration_shared_secret`);
const matrix = `http://127.0.0.1:${port}`;
const synapseStart = Date.now();
const synapse: ChildProcess = spawn(PYTHON, ["-m", "synapse.app.homeserver", "--config-path", CONFIG], {
  stdio: "ignore",
});
process.on("exit", () => synapse.kill());
for (;;) {
  const up = await fetch(`${matrix}/_matrix/client/versions`).catch(() => null);
  if (up?.ok) break;
  if (synapse.exitCode !== null) throw new Error(`synapse exited with ${synapse.exitCode}`);
  await sleep(200);
}
console.log(`synapse up after ${((Date.now() - synapseStart) / 1000).toFixed(1)} s; load ${loadavg()}`);
await idle("synapse", synapseStart, [synapse.pid!]);

async function mx(method: string, path: string, token?: string, body?: unknown) {
  const res = await fetch(matrix + path, {
    method,
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json().catch(() => null);
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

/** A user made with the admin shared-secret registration (what register_new_matrix_user does). */
async function register(name: string): Promise<string> {
  const { nonce } = await mx("GET", "/_synapse/admin/v1/register");
  const password = randomBytes(12).toString("hex");
  const mac = createHmac("sha1", secret!)
    .update([nonce, name, password, "notadmin"].join("\0"))
    .digest("hex");
  return (
    await mx("POST", "/_synapse/admin/v1/register", undefined, { nonce, username: name, password, mac })
  ).access_token;
}

const tag = randomBytes(3).toString("hex");
const [alice, bob] = [await register(`alice_${tag}`), await register(`bob_${tag}`)];
const bobId = (await mx("GET", "/_matrix/client/v3/account/whoami", bob)).user_id;
const room = (
  await mx("POST", "/_matrix/client/v3/createRoom", alice, { preset: "private_chat", invite: [bobId] })
).room_id as string;
await mx("POST", `/_matrix/client/v3/join/${encodeURIComponent(room)}`, bob, {});
let next = 0;
const seedStart = performance.now();
await Promise.all(
  Array.from({ length: 8 }, async () => {
    while (next < SIZE) {
      const n = next++;
      await mx(
        "PUT",
        `/_matrix/client/v3/rooms/${encodeURIComponent(room)}/send/m.room.message/t${tag}${n}`,
        alice,
        {
          msgtype: "m.text",
          body: randomBytes(150).toString("base64"), // 200 characters, as Hush's ciphertext
        },
      );
    }
  }),
);
const seedSeconds = (performance.now() - seedStart) / 1000;
line(
  `synapse: ${SIZE} sends over its API, 8 in flight`,
  `${seedSeconds.toFixed(1)} s, ${(SIZE / seedSeconds).toFixed(0)} messages/s`,
);
const synapsePage = () =>
  mx("GET", `/_matrix/client/v3/rooms/${encodeURIComponent(room)}/messages?dir=b&limit=50`, bob).then((r) => {
    if (r.chunk.length !== 50) throw new Error(`synapse answered ${r.chunk.length} events`);
  });

// 2. Hush ------------------------------------------------------------------------------------

const dir = mkdtempSync(join(tmpdir(), "hush-synapse-"));
{
  // Idle: its own fresh store and server process, as bench/idle.ts (without the full feed).
  const started = Date.now();
  const store = await startLocalStore(join(dir, "idle"));
  const child = fork(new URL("./realtime-child.ts", import.meta.url), ["hush"], {
    execArgv: ["--import", "tsx"],
    env: { ...process.env, BENCH_URI: store.uri, BENCH_DB: "hush_idle", BENCH_SECRET: "i".repeat(32) },
  });
  await new Promise((resolve) => child.once("message", resolve));
  await idle("hush (server + local store)", started, [child.pid!, store.pid()]);
  child.kill();
  await store.stop();
}

const local = await startLocalStore(join(dir, "history"));
const smtp = await startSmtp();
const logger = createLogger("silent");
const config = loadConfig({
  NODE_ENV: "test",
  SMTP_URL: smtp.url,
  TRUST_PROXY: "1",
  JWT_SECRET: "b".repeat(32),
  ACCESS_TOKEN_TTL: "86400",
});
const skew = { seconds: 0 };
const clock = { now: () => new Date(systemClock.now().getTime() + skew.seconds * 1000) };
const store = await connectStore(local.uri, "hush_synapse", logger, { inventory });
const deps = createDeps({ config, store, clock, logger, mailer: smtpMailer(smtp.url, config.MAIL_FROM) });
const server = createServer(deps);
const base = `http://127.0.0.1:${(await server.listen(0)).port}`;
console.log("");
const m = await benchMessages({ base, store, smtp, skew });
const reader = m.devices[2]!;
const { conversations } = await m.call("GET", "/api/v1/conversations?limit=50", reader.token);
const history = conversations.find((c: { name: string | null }) => c.name === `history ${SIZE}`).id as string;
// The same store served by a Hush server in a process of its own, as `npm start` runs it and as
// Synapse runs: the client's work then no longer takes turns with the server's on one thread.
const own = fork(new URL("./realtime-child.ts", import.meta.url), ["hush"], {
  execArgv: ["--import", "tsx"],
  env: { ...process.env, BENCH_URI: local.uri, BENCH_DB: "hush_synapse", BENCH_SECRET: config.JWT_SECRET },
});
const ownBase = `http://127.0.0.1:${((await new Promise((resolve) => own.once("message", resolve))) as { port: number }).port}`;
const hushPage = (at: string) => async () => {
  const res = await fetch(`${at}/api/v1/messages/conversations/${history}/messages?limit=50`, {
    headers: { authorization: `Bearer ${reader.token}` },
  });
  const body = await res.json();
  if (body.messages?.length !== 50) throw new Error(`hush answered ${res.status} ${body.messages?.length}`);
};
// Each side's CPU while it answers: Hush's server and store processes, Synapse's one process (none
// for the server in the bench's process: the client's share cannot be told apart there).
const pages = [
  {
    label: `hush, own process: GET history, newest 50 of ${SIZE}`,
    read: hushPage(ownBase),
    pids: [own.pid!, local.pid()],
  },
  { label: `synapse: GET /messages, newest 50 of ${SIZE}`, read: synapsePage, pids: [synapse.pid!] },
  { label: `hush, in the bench's process: same`, read: hushPage(base), pids: [] },
].map((p) => ({ ...p, ms: [] as number[], cpu: 0 }));

// 3. Side by side ----------------------------------------------------------------------------

console.log(`\ninterleaved: ${ROUNDS} rounds of ${PAGES} pages each; load ${loadavg()}`);
// Untimed first: a new Node process takes a few hundred requests to compile its hot paths.
for (const p of pages) await timed(200, p.read);
for (let r = 0; r < ROUNDS; r++)
  for (const p of pages)
    p.cpu += await cpuWhile(p.pids, async () => p.ms.push(...(await timed(PAGES, p.read))));
for (const p of pages) line(p.label, quantiles(p.ms));
for (const p of pages.filter((p) => p.pids.length))
  line(`  ${p.label.split(":")[0]}: server CPU a page`, `${(p.cpu / p.ms.length).toFixed(2)} ms`);
const [ownPages, theirs, inProcess] = pages.map((p) => median(p.ms));
line("hush, own process ÷ synapse, p50", `${(ownPages! / theirs!).toFixed(2)}×`);
line("hush, in the bench's process ÷ synapse, p50", `${(inProcess! / theirs!).toFixed(2)}×`);
console.log(`load ${loadavg()}`);
own.kill();

await server.close();
await store.close();
await smtp.close();
await local.stop();
synapse.kill();
rmSync(dir, { recursive: true, force: true });

function loadavg() {
  return readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
}
