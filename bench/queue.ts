import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ed25519 } from "@noble/curves/ed25519.js";
import type { ObjectId } from "mongodb";
import { WebSocket } from "ws";
import { createDeps } from "../src/compose.js";
import { loadConfig } from "../src/config.js";
import { connectStore } from "../src/db/store.js";
import type { Deps } from "../src/deps.js";
import { registerDevice } from "../src/devices/repo.js";
import { inventory } from "../src/inventory.js";
import { systemClock } from "../src/lib/clock.js";
import { createLogger } from "../src/lib/logger.js";
import { startLocalStore } from "../src/local-store.js";
import { consoleMailer } from "../src/mail/mailer.js";
import { createServer } from "../src/server.js";
import { openSession } from "../src/sessions/repo.js";
import { createUser } from "../src/users/repo.js";

/**
 * Issue 20, item 7: "under a queue of about 1,000 waiting sends the local store once locked up for
 * good". BENCH_SOCKETS (150) senders, each in its own 1:1 conversation with its recipient's socket
 * open, hand BENCH_QUEUE (7) `send_message` frames each to their sockets at once (1,050 sends
 * waiting); the bench waits up to BENCH_DEADLINE_S (300) seconds for every answer, then checks
 * that the store still takes a write (`/readyz`). Prints (never asserts) how long the queue took
 * to drain, the answers by kind, and whether the store was still writable: a lock-up shows as
 * answers that never come and a store that no longer writes.
 * Uses MONGODB_URI if set, else a fresh local store.
 */
const SOCKETS = Number(process.env.BENCH_SOCKETS ?? 150);
const QUEUE = Number(process.env.BENCH_QUEUE ?? 7);
const DEADLINE_S = Number(process.env.BENCH_DEADLINE_S ?? 300);

const dir = mkdtempSync(join(tmpdir(), "hush-bench-queue-"));
const local = process.env.MONGODB_URI ? undefined : await startLocalStore(dir);
const uri = process.env.MONGODB_URI ?? local!.uri;
const dbName = `hush_bench_queue_${randomBytes(4).toString("hex")}`;
const logger = createLogger("silent");
const config = loadConfig({
  NODE_ENV: "test",
  JWT_SECRET: randomBytes(32).toString("hex"),
  WS_MAX_SOCKETS_PER_USER: "10000",
});
const store = await connectStore(uri, dbName, logger, { inventory, timeoutMs: config.STORE_TIMEOUT_MS });
const deps = createDeps({ config, store, clock: systemClock, logger, mailer: consoleMailer(logger) });
const server = createServer(deps);
const { port } = await server.listen(0);
const http = `http://127.0.0.1:${port}`;

let n = 0;
async function device(d: Deps) {
  const id = n++;
  const user = await createUser(
    d,
    { email: `q${id}@bench.local`, username: `q_${id}`, full_name: "Q" },
    async () => {},
  );
  const public_key = Buffer.from(ed25519.getPublicKey(ed25519.utils.randomSecretKey())).toString("base64");
  await registerDevice(d, user._id, { device_id: "d", device_name: "Bench", public_key }, async () => {});
  const { session_token } = await openSession(d, user._id, "d");
  return { userId: user._id as ObjectId, token: session_token };
}

function open(
  token: string,
  onFrame: (e: { type: string; data: { in_reply_to?: string; code?: string } }) => void,
) {
  return new Promise<WebSocket>((resolve, reject) => {
    const ws = new WebSocket(`${http.replace("http", "ws")}/api/v1/ws?token=${token}`);
    ws.on("message", (raw) => {
      const e = JSON.parse(raw.toString());
      if (e.type === "authenticated") resolve(ws);
      else onFrame(e);
    });
    ws.once("error", reject);
  });
}

const answers = new Map<string, number>(); // answer kind -> count
let answered = 0;
const note = (kind: string) => {
  answers.set(kind, (answers.get(kind) ?? 0) + 1);
  answered++;
};
const sockets: WebSocket[] = [];
const senders: { ws: WebSocket; conversation: string; keys: object[] }[] = [];
for (let i = 0; i < SOCKETS; i += 10) {
  await Promise.all(
    Array.from({ length: Math.min(10, SOCKETS - i) }, async () => {
      const [a, b] = [await device(deps), await device(deps)];
      const res = await fetch(`${http}/api/v1/conversations`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${a.token}` },
        body: JSON.stringify({ participant_id: b.userId.toHexString() }),
      });
      const conversation = ((await res.json()) as { id: string }).id;
      sockets.push(await open(b.token, () => {}));
      const ws = await open(a.token, (e) => {
        if (e.type === "message_ack") note("ack");
        else if (e.type === "error" && e.data.in_reply_to === "send_message") note(`error ${e.data.code}`);
      });
      sockets.push(ws);
      const keys = [
        {
          user_id: b.userId.toHexString(),
          device_id: "d",
          encrypted_key: randomBytes(48).toString("base64"),
        },
      ];
      senders.push({ ws, conversation, keys });
    }),
  );
}

const total = SOCKETS * QUEUE;
console.log(`queue: ${SOCKETS} sockets x ${QUEUE} sends = ${total} sends handed over at once`);
const t0 = performance.now();
for (const s of senders) {
  for (let k = 0; k < QUEUE; k++) {
    s.ws.send(
      JSON.stringify({
        type: "send_message",
        data: {
          conversation_id: s.conversation,
          encrypted_content: randomBytes(32).toString("base64"),
          content_type: "text",
          recipient_keys: s.keys,
          client_message_id: `q-${k}`,
        },
      }),
    );
  }
}
let lastReport = 0;
while (answered < total && performance.now() - t0 < DEADLINE_S * 1000) {
  await new Promise((r) => setTimeout(r, 250));
  const s = Math.floor((performance.now() - t0) / 10_000);
  if (s > lastReport) {
    lastReport = s;
    console.log(`  ${s * 10}s: ${answered}/${total} answered`);
  }
}
const seconds = (performance.now() - t0) / 1000;
const kinds = [...answers].map(([k, v]) => `${k} ${v}`).join(", ");
console.log(`queue: ${answered}/${total} answered in ${seconds.toFixed(1)} s (${kinds || "none"})`);
const probe = performance.now();
const ready = await fetch(`${http}/readyz`).then((r) => r.status);
console.log(`store afterwards: /readyz ${ready} in ${(performance.now() - probe).toFixed(0)} ms`);

for (const ws of sockets) ws.close();
await server.close();
await store.db.dropDatabase().catch(() => {});
await store.close();
await local?.stop();
rmSync(dir, { recursive: true, force: true });
process.exit(answered === total && ready === 200 ? 0 : 1);
