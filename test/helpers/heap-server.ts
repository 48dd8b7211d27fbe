/**
 * Hush in a process of its own, for the test that streams a file larger than this process's heap
 * through it (started with a small --max-old-space-size). It signs one account up, then tells its
 * parent the port and token over IPC, and answers "peaks" with the highest memory figures it has
 * sampled since the last "reset".
 */
import { randomBytes } from "node:crypto";
import { ed25519 } from "@noble/curves/ed25519.js";
import { createDeps } from "../../src/compose.js";
import { loadConfig } from "../../src/config.js";
import { connectStore } from "../../src/db/store.js";
import { inventory } from "../../src/inventory.js";
import { systemClock } from "../../src/lib/clock.js";
import { createLogger } from "../../src/lib/logger.js";
import { consoleMailer } from "../../src/mail/mailer.js";
import { createServer } from "../../src/server.js";

const send = (m: unknown) => process.send?.(m);
const logger = createLogger("silent");
const config = loadConfig({
  NODE_ENV: "test",
  LOG_LEVEL: "silent",
  JWT_SECRET: randomBytes(32).toString("hex"),
  ATTACHMENT_MAX_BYTES: String(256 * 1024 * 1024),
  ATTACHMENT_QUOTA_BYTES: String(1024 * 1024 * 1024),
  // This test measures memory, not speed: a loaded machine must not turn it into a 408.
  REQUEST_TIMEOUT_MS: "600000",
});
const store = await connectStore(process.env.HUSH_TEST_URI!, process.env.HUSH_TEST_DB!, logger, {
  inventory,
  ttlGraceSeconds: null,
});
let code = "";
const mailer = consoleMailer(logger, (text) => {
  code = /\b(\d{6})\b/.exec(text)?.[1] ?? code;
});
const server = createServer(createDeps({ config, store, clock: systemClock, logger, mailer }));
const { port } = await server.listen(0);
const base = `http://127.0.0.1:${port}/api/v1`;
const post = async (path: string, body: unknown) => {
  const r = await fetch(base + path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return r.json() as Promise<Record<string, string>>;
};
const email = `heap.${Date.now()}@example.com`;
const started = await post("/auth/signup", { email, purpose: "signup" });
const verified = await post("/auth/verify-otp", { session_id: started.session_id, otp: code });
const done = await post(`/auth/complete-signup?temp_token=${verified.temp_token}`, {
  email,
  username: `heap_${Date.now().toString(36)}`,
  full_name: "Heap Test",
  device_info: {
    device_id: "heap",
    device_name: "Heap",
    public_key: Buffer.from(ed25519.getPublicKey(ed25519.utils.randomSecretKey())).toString("base64"),
  },
});

let peaks = { rss: 0, heapUsed: 0, offHeap: 0 };
const sample = () => {
  const m = process.memoryUsage();
  peaks = {
    rss: Math.max(peaks.rss, m.rss),
    heapUsed: Math.max(peaks.heapUsed, m.heapUsed),
    offHeap: Math.max(peaks.offHeap, m.external), // Buffers included
  };
};
setInterval(sample, 20).unref();
process.on("message", async (m) => {
  if (m === "reset") {
    globalThis.gc?.();
    peaks = { rss: 0, heapUsed: 0, offHeap: 0 };
    sample();
    send({ peaks });
  } else if (m === "peaks") {
    sample();
    send({ peaks });
  } else if (m === "stop") {
    await server.close();
    await store.db.dropDatabase().catch(() => {});
    await store.close();
    process.exit(0);
  }
});
send({ port, token: done.session_token });
