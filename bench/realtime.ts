import { fork } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ed25519 } from "@noble/curves/ed25519.js";
import type { CommandStartedEvent, CommandSucceededEvent, ObjectId } from "mongodb";
import { WebSocket } from "ws";
import { createDeps } from "../src/compose.js";
import { loadConfig } from "../src/config.js";
import { connectStore } from "../src/db/store.js";
import type { Deps } from "../src/deps.js";
import { registerDevice } from "../src/devices/repo.js";
import { inventory } from "../src/inventory.js";
import { systemClock } from "../src/lib/clock.js";
import { createLogger, type LogLevel } from "../src/lib/logger.js";
import { startLocalStore } from "../src/local-store.js";
import { consoleMailer } from "../src/mail/mailer.js";
import { sendRule } from "../src/messages/routes.js";
import { createServer } from "../src/server.js";
import { openSession } from "../src/sessions/repo.js";
import { createUser } from "../src/users/repo.js";

/**
 * Realtime figures, printed (never asserted): send-to-receive latency at a steady rate, the
 * sustained rate until p99 passes 100 ms, fan-out to a 50-member group with 2 devices each,
 * cross-process latency, and memory per idle authenticated socket next to a bare `ws` server.
 * Uses MONGODB_URI if set, else a fresh local store.
 *
 * `messages`: each message is a `send_message` frame on the sending device's own socket, the way a
 * client sends: the frame budget, the 100-a-minute send limit, the device-list check, the store,
 * the recipients' streams and the `message_ack` all run as in production. The clock starts when
 * the frame is handed to the client's socket and stops when the recipient's client has parsed its
 * `new_message`. Since one user may send 100 messages a minute, a steady load comes from many
 * 1:1 conversations (BENCH_SENDERS pairs, taken in turn; a pair whose sender is near its budget is
 * skipped, and a run the pool cannot serve within the limits is not run). `entries`: the realtime
 * layer alone, `deps.writer.append` (the one call every stream producer ends in) called in the server's process
 * with an entry of the same size, to tell the two costs apart. Ciphertext and wrapped keys are
 * random bytes: the server never opens them.
 *
 * The sustained rate is searched first (offered rates from 1/s up, each for 3 s or 30 messages);
 * the steady run at BENCH_RATE is made only if at least half that rate was sustained: past that,
 * it would measure its own queue for minutes.
 *
 * BENCH_SECONDS (10) sets the steady run, BENCH_RATE (100) its rate, BENCH_SOCKETS (5000) the idle
 * sockets, BENCH_SENDERS (150) the 1:1 pairs, BENCH_XPROC_RATE (1) the rate across processes
 * (for at least 30 messages), BENCH_PARTS the parts to run
 * (entries,messages,xproc,memory; alone, a send's own latency and store commands over BENCH_ALONE
 * sends made one at a time, only when named), BENCH_LOG the server's log level (silent).
 */
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const RATE = Number(process.env.BENCH_RATE ?? 100);
const SENDERS = Number(process.env.BENCH_SENDERS ?? 150);
const XPROC_RATE = Number(process.env.BENCH_XPROC_RATE ?? 1);
const SOCKETS = Number(process.env.BENCH_SOCKETS ?? 5_000);
/** BENCH_PARTS: which of entries,messages,xproc,memory,alone to run (entries to memory by default). */
const PARTS = new Set((process.env.BENCH_PARTS ?? "entries,messages,xproc,memory").split(","));
/** BENCH_ALONE: how many sends the `alone` part makes one at a time. */
const ALONE = Number(process.env.BENCH_ALONE ?? 30);

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
const logger = createLogger((process.env.BENCH_LOG ?? "silent") as LogLevel);

type Process = Awaited<ReturnType<typeof startProcess>>;
/** While set, sees each store command of the first process as it starts and as it succeeds. */
let watching: ((e: CommandStartedEvent | CommandSucceededEvent) => void) | undefined;
let processes = 0;
async function startProcess() {
  const config = loadConfig({ NODE_ENV: "test", JWT_SECRET: secret, WS_MAX_SOCKETS_PER_USER: "10000" });
  const first = processes++ === 0;
  const store = await connectStore(uri, dbName, logger, {
    inventory,
    ...(first ? { onCommand: (e: CommandStartedEvent) => watching?.(e) } : {}),
  });
  if (first) store.client.on("commandSucceeded", (e) => watching?.(e));
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
  return new Promise<Client>((resolve, reject) => {
    const ws = new WebSocket(`${url}?token=${token}`);
    // A device's own sends are answered in order (a socket's frames are handled one at a time).
    const answers: { resolve(): void; reject(e: Error): void }[] = [];
    ws.on("message", (raw) => {
      const e = JSON.parse(raw.toString());
      if (e.type === "authenticated") resolve({ ws, answers });
      else if (e.type === "new_message") seen(e.data.message.encrypted_content, performance.now());
      else if (e.type === "contacts_updated") seen(e.data.display_name, performance.now());
      else if (e.type === "message_ack") answers.shift()?.resolve();
      else if (e.type === "error" && e.data.in_reply_to === "send_message")
        answers.shift()?.reject(new Error(`${e.data.code}: ${e.data.message}`));
    });
    ws.once("error", reject);
  });
}
interface Client {
  ws: WebSocket;
  answers: { resolve(): void; reject(e: Error): void }[];
}

type Account = Awaited<ReturnType<typeof account>>;
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
/** Sends one message tagged `tag`; resolves when the server has stored it (acknowledged it). */
type Send = (tag: string) => Promise<unknown>;

/** A user may send this many messages in any minute (sendRule), the bench a little fewer. */
const BUDGET = sendRule.limit - 10;

/**
 * A conversation's sender: `messages` sends a `send_message` frame on the sending device's socket
 * and resolves on its `message_ack`; `entries` calls `deps.writer.append` for every device but the sender's,
 * in this process. `budget()` is how many more messages it may send now within the user's limit.
 */
function sender(
  mode: Mode,
  deps: Deps,
  from: Account,
  conversationId: string,
  everyone: Account[],
  socket?: Client,
) {
  const targets = everyone
    .flat()
    .filter((d) => !(d.userId.equals(from[0]!.userId) && d.deviceId === from[0]!.deviceId));
  const keys = targets.map((d) => ({
    user_id: d.userId.toHexString(),
    device_id: d.deviceId,
    encrypted_key: bytes(48),
  }));
  const sent: number[] = [];
  const budget = () => {
    const now = performance.now();
    while (sent.length && sent[0]! < now - 61_000) sent.shift();
    return mode === "entries" ? Number.POSITIVE_INFINITY : BUDGET - sent.length;
  };
  let n = 0;
  const send: Send = (tag) => {
    sent.push(performance.now());
    if (mode === "entries") {
      return deps.writer.append(
        targets.map((d) => ({
          user_id: d.userId,
          device_id: d.deviceId,
          type: "contacts_updated" as const,
          data: { user_id: d.userId.toHexString(), status: "accepted" as const, display_name: tag },
          refs: [],
        })),
      );
    }
    return new Promise<void>((resolve, reject) => {
      socket!.answers.push({ resolve, reject });
      socket!.ws.send(
        JSON.stringify({
          type: "send_message",
          data: {
            conversation_id: conversationId,
            encrypted_content: tag,
            content_type: "text",
            recipient_keys: keys,
            client_message_id: `bench-${n++}`,
          },
        }),
      );
    });
  };
  return { send, budget };
}
type Sender = ReturnType<typeof sender>;

/**
 * `count` 1:1 conversations on `p`, each with its recipient's socket open on `p` reporting arrivals
 * to `arrived` and, with `elsewhere`, a second socket of the same device on another process
 * reporting to its map. The sender has two devices: its other one gets a copy in its stream too.
 */
async function pairs(
  mode: Mode,
  p: Process,
  count: number,
  arrived: Map<string, number>,
  elsewhere?: { on: Process; arrived: Map<string, number> },
) {
  // A few at a time: all at once, the store's queue outlasts the server's request timeouts.
  const made: { sender: Sender; sockets: (Client | undefined)[] }[] = [];
  for (let i = 0; i < count; i += 10)
    made.push(
      ...(await Promise.all(
        Array.from({ length: Math.min(10, count - i) }, async () => {
          const a = await account(p.deps, 2);
          const b = await account(p.deps, 1);
          const id = await conversation(p, a, [b]);
          const to = await listen(p.url, b[0]!.token, (tag, at) => arrived.set(tag, at));
          const far = elsewhere
            ? await listen(elsewhere.on.url, b[0]!.token, (tag, at) => elsewhere.arrived.set(tag, at))
            : undefined;
          const from = mode === "messages" ? await listen(p.url, a[0]!.token, () => {}) : undefined;
          return { sender: sender(mode, p.deps, a, id, [a, b], from), sockets: [to, far, from] };
        }),
      )),
    );
  return {
    senders: made.map((m) => m.sender),
    close: () => {
      for (const m of made) for (const s of m.sockets) s?.ws.close();
    },
  };
}

/** The next sender, in turn, that may still send within its limit; none when all are spent. */
function rotation(senders: Sender[]) {
  let i = 0;
  return () => {
    for (let tried = 0; tried < senders.length; tried++) {
      const s = senders[i++ % senders.length]!;
      if (s.budget() > 0) return s;
    }
    return undefined;
  };
}

/** Whether `senders` can carry `rate` a second for `seconds` within their limits. */
const affordable = (senders: Sender[], rate: number, seconds: number) =>
  senders.reduce((sum, s) => sum + Math.max(0, s.budget()), 0) >= rate * Math.min(seconds, 60);

/**
 * Sends `rate` messages a second for `seconds`; returns each one's send-to-receive time as
 * `arrived` saw it (and as `also` did, when given: another socket of the same devices).
 */
async function steady(
  senders: Sender[],
  arrived: Map<string, number>,
  rate: number,
  seconds: number,
  also?: Map<string, number>,
) {
  const next = rotation(senders);
  const count = Math.round(rate * seconds);
  let failed = 0;
  const errors = new Set<string>();
  const started = new Map<string, number>();
  const t0 = performance.now();
  const sends: Promise<unknown>[] = [];
  for (let i = 0; i < count; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const s = next();
    if (!s) throw new Error("the senders' budgets are spent: raise BENCH_SENDERS");
    const tag = bytes(24);
    started.set(tag, performance.now());
    sends.push(
      s.send(tag).catch((e: Error) => {
        failed++;
        errors.add(e.message);
      }),
    );
  }
  await Promise.all(sends);
  const late = (m: Map<string, number>) => [...started.keys()].some((t) => !m.has(t));
  for (let waited = 0; waited < 10_000 && (late(arrived) || (also && late(also))); waited += 20)
    await sleep(20);
  const times = (m: Map<string, number>) =>
    [...started].filter(([t]) => m.has(t)).map(([t, at]) => m.get(t)! - at);
  const lat = times(arrived);
  const last = Math.max(t0 + 1, ...[...started.keys()].map((t) => arrived.get(t) ?? 0));
  if (errors.size) console.log(`    send errors: ${[...errors].join("; ")}`);
  return {
    lat,
    also: also && times(also),
    lost: count - lat.length,
    failed,
    achieved: lat.length / ((last - t0) / 1000),
  };
}

console.log(
  `store: ${local ? "local FerretDB (SQLite)" : "MONGODB_URI"}; node ${process.version}; ` +
    `${SENDERS} 1:1 conversations, steady run ${RATE}/s for ${SECONDS}s`,
);
const main = await startProcess();

/**
 * One send alone: how long until it is acknowledged and received, and the store commands it causes
 * in the server, each with its time in the store and its place in the chain of waits.
 */
async function watchSend(s: Sender, arrived: Map<string, number>, settle: number) {
  const started = new Map<number, { what: string; at: number; depth: number }>();
  const seen: { line: string; at: number; end: number; depth: number }[] = [];
  watching = (e) => {
    if (e.commandName === "getMore" || e.commandName === "endSessions") return; // the feed tailer
    const now = performance.now();
    if ("command" in e) {
      const c = e.command;
      const q = c.filter ?? c.query ?? c.updates?.[0]?.q ?? c.deletes?.[0]?.q ?? c.pipeline?.[0]?.$match;
      // Its place in a chain of commands each waiting for the one before: one more than the
      // deepest command that had finished when it began.
      const depth = 1 + Math.max(0, ...seen.filter((x) => x.end <= now).map((x) => x.depth));
      const what = `${e.commandName} ${c[e.commandName]} {${Object.keys(q ?? {}).join(", ")}}`;
      started.set(e.requestId, { what, at: now, depth });
    } else {
      const s = started.get(e.requestId);
      if (!s) return;
      const line = `${e.duration.toFixed(1).padStart(7)}ms  (wait ${String(s.depth).padStart(2)})  ${s.what}`;
      seen.push({ line, at: s.at, end: now, depth: s.depth });
    }
  };
  const tag = bytes(24);
  const t = performance.now();
  await s.send(tag);
  const acked = performance.now() - t;
  while (!arrived.has(tag) && performance.now() - t < 10_000) await sleep(1);
  const received = arrived.get(tag)!;
  await sleep(settle); // the background writes (feed notice, head raise) too
  watching = undefined;
  const beforeDelivery = seen.filter((x) => x.end <= received);
  return {
    acked,
    received: received - t,
    commands: seen.length,
    before: beforeDelivery.length,
    waits: Math.max(0, ...beforeDelivery.map((x) => x.depth)),
    lines: seen.sort((x, y) => x.at - y.at).map((x) => x.line),
  };
}

/** One send alone, after what the search left running has settled, with its commands listed. */
async function oneSend(s: Sender, arrived: Map<string, number>) {
  await sleep(2_000);
  const one = await watchSend(s, arrived, 500);
  console.log(
    `messages: one send alone: acknowledged in ${ms(one.acked)}, received in ${ms(one.received)}; ` +
      `${one.commands} store commands, ${one.before} of them before delivery, ` +
      `${one.waits} waits in turn to delivery ` +
      "(with their time in the store and the wait each is in):",
  );
  for (const line of one.lines) console.log(`  ${line}`);
}

/**
 * `alone`: BENCH_ALONE (30) sends one at a time on a quiet server, each after the one before was
 * delivered and its background writes done: a send's own latency and store commands, as quantiles
 * over the runs (one send's figure moves with whatever else the machine is doing).
 */
async function sendsAlone() {
  const arrived = new Map<string, number>();
  const pool = await pairs("messages", main, 1, arrived);
  const runs: Awaited<ReturnType<typeof watchSend>>[] = [];
  for (let i = 0; i < 3; i++) await watchSend(pool.senders[0]!, arrived, 300); // warm up
  for (let i = 0; i < ALONE; i++) runs.push(await watchSend(pool.senders[0]!, arrived, 300));
  const of = (f: (r: (typeof runs)[number]) => number) => runs.map(f);
  const spread = (xs: number[]) => `p50=${q(xs, 0.5)}  min=${q(xs, 0)}  max=${q(xs, 1)}`;
  console.log(`messages: ${ALONE} sends alone, one at a time (send_message frame to new_message):`);
  console.log(
    `  acknowledged  p50=${ms(
      q(
        of((r) => r.acked),
        0.5,
      ),
    )}  p90=${ms(
      q(
        of((r) => r.acked),
        0.9,
      ),
    )}`,
  );
  console.log(
    `  received      p50=${ms(
      q(
        of((r) => r.received),
        0.5,
      ),
    )}  p90=${ms(
      q(
        of((r) => r.received),
        0.9,
      ),
    )}`,
  );
  console.log(`  store commands per send        ${spread(of((r) => r.commands))}`);
  console.log(`    of them before delivery      ${spread(of((r) => r.before))}`);
  console.log(`  waits in turn to delivery      ${spread(of((r) => r.waits))}`);
  // The commands of the send whose count is the median, by kind (their order varies run to run).
  const median = [...runs].sort((a, b) => a.commands - b.commands)[Math.floor(runs.length / 2)]!;
  const kinds = new Map<string, number>();
  for (const line of median.lines) {
    const what = line.replace(/^.*\)\s+/, "");
    kinds.set(what, (kinds.get(what) ?? 0) + 1);
  }
  console.log("  the median send's commands, by kind:");
  for (const [what, n] of [...kinds].sort()) console.log(`    ${n}x ${what}`);
  pool.close();
}

/** The steady rate, the sustained rate and the fan-out, for one producer. */
async function figures(mode: Mode, rate: number) {
  // 1:1: the recipient's device and the sender's other device get each message.
  {
    const arrived = new Map<string, number>();
    const pool = await pairs(mode, main, mode === "messages" ? SENDERS : 1, arrived);
    await steady(pool.senders, new Map(), 10, 1); // warm up
    let sustained = 0;
    for (const step of [1, 2, 5, 10, 25, 50, 100, 200, 400, 800, 1600]) {
      const seconds = Math.max(3, 30 / step); // at least 30 messages per step
      if (!affordable(pool.senders, step, seconds + SECONDS)) {
        console.log(`  offered ${step}/s: not run, past what ${SENDERS} senders may send (BENCH_SENDERS)`);
        break;
      }
      arrived.clear();
      const s = await steady(pool.senders, arrived, step, seconds);
      const p99 = q(s.lat, 0.99);
      console.log(
        `  offered ${step}/s: delivered ${s.achieved.toFixed(0)}/s`.padEnd(52),
        `p50=${ms(q(s.lat, 0.5))}  p99=${ms(p99)}${s.lost ? `  (not delivered ${s.lost}, of which ${s.failed} failed to send)` : ""}`,
      );
      if (p99 > 100 || s.lost) break;
      sustained = step;
    }
    console.log(`${mode}: sustained rate with p99 under 100 ms: ${sustained}/s`);
    if (mode === "messages") await oneSend(pool.senders[0]!, arrived);
    if (sustained * 2 < rate) {
      // Offered far past what is served, a run measures only its own queue, for minutes (and
      // thousands of sends waiting at once have stalled the local store: docs/performance.md).
      console.log(`${mode}: 1:1 at ${rate}/s not run: past twice the sustained rate`);
      pool.close();
      return fanOut(mode);
    }
    // After the search, whose load may still be draining, and within the senders' limits.
    await sleep(5_000);
    while (!affordable(pool.senders, rate, SECONDS)) await sleep(1_000);
    arrived.clear();
    const r = await steady(pool.senders, arrived, rate, SECONDS);
    console.log(
      `${mode}: 1:1 at ${rate}/s for ${SECONDS}s (n=${r.lat.length}, failed ${r.failed}, lost ${r.lost - r.failed})`.padEnd(
        52,
      ),
      `p50=${ms(q(r.lat, 0.5))}  p99=${ms(q(r.lat, 0.99))}  max=${ms(q(r.lat, 1))}`,
    );
    pool.close();
  }
  await fanOut(mode);
}

/** Fan-out: one message to a 50-member group, 2 devices each: time until every other device has it. */
async function fanOut(mode: Mode) {
  const members = await Promise.all(Array.from({ length: 50 }, () => account(main.deps, 2)));
  const id = await conversation(main, members[0]!, members.slice(1));
  const got = new Map<string, number>();
  const receivers = members.flat().slice(1); // every device but the sending one
  const sockets = await Promise.all(
    receivers.map((d) => listen(main.url, d.token, (tag) => got.set(tag, (got.get(tag) ?? 0) + 1))),
  );
  const own = mode === "messages" ? await listen(main.url, members[0]![0]!.token, () => {}) : undefined;
  const { send } = sender(mode, main.deps, members[0]!, id, members, own);
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
  for (const s of [...sockets, own]) s?.ws.close();
}

if (PARTS.has("entries")) await figures("entries", RATE);
if (PARTS.has("messages")) await figures("messages", RATE);
if (PARTS.has("alone")) await sendsAlone();

// Across processes: each recipient device has a socket on this process and one on a second
// process, so every message's two arrivals show what the feed between processes adds.
if (PARTS.has("xproc")) {
  const second = await startProcess();
  const near = new Map<string, number>();
  const far = new Map<string, number>();
  const pool = await pairs("messages", main, 20, near, { on: second, arrived: far });
  // Until the second process's feed cursor has found its place, its sockets hear nothing from the
  // first: send until a message arrives there (not measured).
  for (let tries = 0; ; tries++) {
    if (tries === 30) throw new Error("no message reached the second process in a minute");
    const tag = bytes(24);
    await pool.senders[tries % 20]!.send(tag);
    for (let i = 0; i < 20 && !far.has(tag); i++) await sleep(100);
    if (far.has(tag)) break;
  }
  near.clear();
  far.clear();
  const r = await steady(pool.senders, near, XPROC_RATE, Math.max(SECONDS, 30 / XPROC_RATE), far);
  const line = (where: string, lat: number[]) =>
    console.log(
      `messages: 1:1 at ${XPROC_RATE}/s, ${where} (n=${lat.length}, lost ${r.lost + r.lat.length - lat.length})`.padEnd(
        52,
      ),
      `p50=${ms(q(lat, 0.5))}  p99=${ms(q(lat, 0.99))}`,
    );
  line("recipient's socket on the same process", r.lat);
  line("the same device's socket on another process", r.also!);
  pool.close();
  await second.server.close();
  await second.store.close();
}

// Memory per idle authenticated socket, each server in a process of its own.
if (PARTS.has("memory")) {
  const users = await Promise.all(
    Array.from({ length: Math.ceil(SOCKETS / 100) }, () => account(main.deps, 1)),
  );
  const tokens = users.map((u) => u[0]!.token);
  const userIds = users.map((u) => u[0]!.userId);
  // Until every socket's presence record is written (or, for bare, a moment): memory taken while
  // the store still has a backlog of them would count the work in flight, not the sockets.
  const settled = async (count?: number) => {
    const presence = main.store.db.collection("presence");
    for (let i = 0; count !== undefined && i < 600; i++) {
      if ((await presence.countDocuments({ user_id: { $in: userIds } })) === count) break;
      await sleep(500);
    }
    await sleep(2_000);
  };
  const measure = async (mode: "hush" | "bare") => {
    const child = fork(new URL("./realtime-child.ts", import.meta.url).pathname, [mode], {
      execArgv: ["--expose-gc", "--import", "tsx"],
      env: { ...process.env, BENCH_URI: uri, BENCH_DB: dbName, BENCH_SECRET: secret },
    });
    type Mem = { port: number; rss: number; heapUsed: number; heapTotal: number; external: number };
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
      await settled(mode === "hush" ? sockets.length : undefined);
      return mem();
    };
    // Heap per socket from the second half only: what the first half grew once (connection pools,
    // caches, the sockets' own first allocations) is left out of the slope.
    // Warm up (code compiled, the store's connection pool grown), then measure from there.
    await open(Math.min(500, SOCKETS / 2));
    for (const s of sockets.splice(0)) s.terminate();
    await settled(mode === "hush" ? 0 : undefined);
    const base = await mem();
    const half = await open(SOCKETS / 2);
    const full = await open(SOCKETS);
    for (const s of sockets) s.terminate();
    child.kill();
    const n = SOCKETS - SOCKETS / 2;
    return {
      // RSS moves in allocator-sized steps (and shrinks when a GC hands pages back): whole range.
      rss: (full.rss - base.rss) / SOCKETS,
      // What V8 holds for its heap (used or not): it grows with the work of opening the sockets.
      committed: (full.heapTotal - base.heapTotal) / SOCKETS,
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
      `RSS ${kib(hush.rss)} (bare ws ${kib(bare.rss)}, ${(hush.rss / bare.rss).toFixed(2)}x)   ` +
      `heap committed ${kib(hush.committed)} (bare ws ${kib(bare.committed)})   hush process ${mib(hush.total)}`,
  );
}

await main.server.close();
await main.store.db.dropDatabase();
await main.store.close();
await local?.stop();
rmSync(dir, { recursive: true, force: true });
process.exit(0);
