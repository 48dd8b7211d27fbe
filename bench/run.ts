import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ed25519 } from "@noble/curves/ed25519.js";
import { ObjectId } from "mongodb";
import { createDeps } from "../src/compose.js";
import { loadConfig } from "../src/config.js";
import { startLocalStore } from "../src/db/local-store.js";
import { connectStore } from "../src/db/store.js";
import { inventory } from "../src/inventory.js";
import { smtpMailer } from "../src/mail/mailer.js";
import { createServer } from "../src/server.js";
import { systemClock } from "../src/shared/clock.js";
import { createLogger } from "../src/shared/logger.js";
import { startSmtp } from "../test/helpers/smtp.js";
import { benchAttachments } from "./attachments.js";

/**
 * Prints latency figures for the relay against its own database: what a request costs on top of
 * the store's round trip. Uses MONGODB_URI if set, else a fresh local FerretDB. Bounded: a fixed
 * number of sequential requests on loopback.
 */
const N = Number(process.env.BENCH_N ?? 300);

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
    `${label.padEnd(44)} n=${String(n).padEnd(5)} p50=${q(0.5)}ms  p95=${q(0.95)}ms  p99=${q(0.99)}ms`,
  );
}

const dir = mkdtempSync(join(tmpdir(), "hush-bench-"));
const local = process.env.MONGODB_URI ? undefined : await startLocalStore(dir);
const uri = process.env.MONGODB_URI ?? local!.uri;
const smtp = await startSmtp();
const logger = createLogger("silent");
const config = loadConfig({
  NODE_ENV: "test",
  SMTP_URL: smtp.url,
  TRUST_PROXY: "true",
  JWT_SECRET: "b".repeat(32),
  ATTACHMENT_QUOTA_BYTES: String(64 * 1024 ** 3),
});
const store = await connectStore(uri, `hush_bench_${randomBytes(4).toString("hex")}`, logger, { inventory });
const deps = createDeps({
  config,
  store,
  clock: systemClock,
  logger,
  mailer: smtpMailer(smtp.url, config.MAIL_FROM),
});
const server = createServer(deps);
const { port } = await server.listen(0);
const base = `http://127.0.0.1:${port}`;
const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(base + path, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  }).then(async (r) => ({ status: r.status, body: await r.json() }));

console.log(`store: ${local ? "local FerretDB (SQLite)" : "MONGODB_URI"}; node ${process.version}`);
await time("store ping (driver round trip, no HTTP)", N, () => store.db.command({ ping: 1 }));
await time("store findOne by _id (no HTTP)", N, () =>
  store.db.collection("users").findOne({ _id: new ObjectId() }),
);
await time("GET /healthz (HTTP only)", N, () => fetch(`${base}/healthz`).then((r) => r.text()));

// One account to read with.
const email = "bench@example.com";
const s = await post("/api/v1/auth/signup", { email }, { "x-forwarded-for": "10.9.9.9" });
const v = await post("/api/v1/auth/verify-otp", { session_id: s.body.session_id, otp: smtp.code(email) });
const key = Buffer.from(ed25519.getPublicKey(ed25519.utils.randomSecretKey())).toString("base64");
const done = await post(`/api/v1/auth/complete-signup?temp_token=${v.body.temp_token}`, {
  email,
  username: "bench_user",
  full_name: "Bench",
  device_info: { device_id: "bench", device_name: "Bench", public_key: key },
});
const auth = { authorization: `Bearer ${done.body.session_token}` };
await time("GET /api/v1/auth/me (JWT + session + user + devices)", N, () =>
  fetch(`${base}/api/v1/auth/me`, { headers: auth }).then((r) => r.text()),
);

// Enumeration resistance: sign-up for an existing vs a new address should cost the same.
const M = Math.min(N, 100);
await time("POST /auth/signup, new address (mail sent)", M, (i) =>
  post(
    "/api/v1/auth/signup",
    { email: `new${i}@example.com` },
    { "x-forwarded-for": `10.1.${i >> 8}.${i & 255}` },
  ),
);
await time("POST /auth/signup, existing address (mail sent)", M, (i) =>
  post("/api/v1/auth/signup", { email }, { "x-forwarded-for": `10.2.${i >> 8}.${i & 255}` }),
);

if (process.env.BENCH_ATTACHMENTS !== "0") await benchAttachments(base, done.body.session_token);

await server.close();
await store.db.dropDatabase();
await store.close();
await smtp.close();
await local?.stop();
rmSync(dir, { recursive: true, force: true });
