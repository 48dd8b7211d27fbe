import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ed25519 } from "@noble/curves/ed25519.js";
import { WebSocket } from "ws";
import { createDeps } from "../src/compose.js";
import { loadConfig } from "../src/config.js";
import { connectStore } from "../src/db/store.js";
import { registerDevice } from "../src/devices/repo.js";
import { inventory } from "../src/inventory.js";
import { systemClock } from "../src/lib/clock.js";
import { createLogger } from "../src/lib/logger.js";
import { startLocalStore } from "../src/local-store.js";
import { consoleMailer } from "../src/mail/mailer.js";
import { MAX_FRAME_DEPTH, MAX_FRAME_VALUES, maxFrameBytes } from "../src/realtime/frames.js";
import { createServer } from "../src/server.js";
import { openSession } from "../src/sessions/repo.js";
import { createUser } from "../src/users/repo.js";

/**
 * What one socket's frames cost everyone else (printed, never asserted): one account sends
 * BENCH_FRAMES (60) frames of the same size (the frame limit, just under it) over a real socket to
 * a real server while another client asks GET /healthz every 20 ms; printed per kind of frame are
 * the time until the server answered the last frame and /healthz's p50/p90/max meanwhile.
 *
 * - flat: `{"type":"ping","pad":"xxx…"}`, parsed and answered with `pong`;
 * - nested: `{"type":"ping","pad":[[[[…]]]]}`, one array nested as deep as the size allows (the
 *   probe's frame), refused by the depth guard before JSON.parse;
 * - nested to the limit: arrays nested MAX_FRAME_DEPTH deep, repeated to the size (within the
 *   depth guard, past the cap on values: refused before JSON.parse);
 * - values to the cap: MAX_FRAME_VALUES arrays, the rest one string: the most a frame may hold and
 *   still be parsed.
 *
 * The cost before the guard is shown by JSON.parse itself, in this process, on the same flat and
 * nested text (what the server did with every frame before). The frame budget is raised so every
 * frame is handled. Uses MONGODB_URI if set, else a fresh local store.
 */
const FRAMES = Number(process.env.BENCH_FRAMES ?? 60);

const dir = mkdtempSync(join(tmpdir(), "hush-bench-frames-"));
const local = process.env.MONGODB_URI ? undefined : await startLocalStore(dir);
const uri = process.env.MONGODB_URI ?? local!.uri;
const dbName = `hush_bench_frames_${randomBytes(4).toString("hex")}`;
const logger = createLogger("silent");
const config = loadConfig({
  NODE_ENV: "test",
  JWT_SECRET: randomBytes(32).toString("hex"),
  WS_MESSAGES_PER_MINUTE: "100000",
});
const store = await connectStore(uri, dbName, logger, { inventory });
const deps = createDeps({ config, store, clock: systemClock, logger, mailer: consoleMailer(logger) });
const server = createServer(deps);
const { port } = await server.listen(0);

const user = await createUser(
  deps,
  { email: "f@bench.local", username: "frames", full_name: "B" },
  async () => {},
);
const public_key = Buffer.from(ed25519.getPublicKey(ed25519.utils.randomSecretKey())).toString("base64");
await registerDevice(deps, user._id, { device_id: "d", device_name: "B", public_key }, async () => {});
const { session_token } = await openSession(deps, user._id, "d");

const size = maxFrameBytes(config.MAX_BODY_BYTES) - 64;
const head = '{"type":"ping","pad":';
const fill = size - head.length - 1;
const frames = {
  flat: `${head}"${"x".repeat(fill - 2)}"}`,
  nested: `${head}${"[".repeat(Math.floor(fill / 2))}${"]".repeat(Math.floor(fill / 2))}}`,
  "nested to the limit": (() => {
    const d = MAX_FRAME_DEPTH - 2; // inside the frame's object and the pad array
    const unit = `${"[".repeat(d)}${"]".repeat(d)}`;
    return `${head}[${Array(Math.floor(fill / (unit.length + 1)))
      .fill(unit)
      .join(",")}]}`;
  })(),
  "values to the cap": (() => {
    const arrays = Array(MAX_FRAME_VALUES / 2 - 4)
      .fill("[]")
      .join(",");
    return `${head}[${arrays},"${"x".repeat(fill - arrays.length - 6)}"]}`;
  })(),
};

const q = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;

async function run(text: string) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/api/v1/ws?token=${session_token}`);
  await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
  let answered = 0;
  const done = new Promise<void>((resolve) =>
    ws.on("message", (data) => {
      const type = JSON.parse(data.toString()).type;
      if ((type === "pong" || type === "error") && ++answered === FRAMES) resolve();
    }),
  );
  const health: number[] = [];
  let probing = true;
  const probe = (async () => {
    while (probing) {
      const t = performance.now();
      await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.arrayBuffer());
      health.push(performance.now() - t);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  const start = performance.now();
  for (let i = 0; i < FRAMES; i++) ws.send(text);
  await done;
  const took = performance.now() - start;
  probing = false;
  await probe;
  ws.close();
  return { took, health };
}

const parseCost = (text: string) => {
  const t = performance.now();
  for (let i = 0; i < 5; i++) {
    try {
      JSON.parse(text);
    } catch {}
  }
  return (performance.now() - t) / 5;
};

console.log(`${FRAMES} frames of ${size} bytes on one socket, GET /healthz every 20 ms meanwhile`);
for (const [name, text] of Object.entries(frames)) {
  await run(text); // warm-up
  const { took, health } = await run(text);
  console.log(
    `  ${name.padEnd(20)} all answered in ${took.toFixed(0)} ms (${(took / FRAMES).toFixed(1)} ms a frame)` +
      `   /healthz p50=${q(health, 0.5).toFixed(1)}ms p90=${q(health, 0.9).toFixed(1)}ms max=${Math.max(...health).toFixed(1)}ms`,
  );
}
console.log("JSON.parse alone, in this process (what every frame cost before the depth guard):");
for (const name of ["flat", "nested", "nested to the limit"] as const) {
  console.log(`  ${name.padEnd(20)} ${parseCost(frames[name]).toFixed(1)} ms a frame`);
}

await server.close();
await store.db.dropDatabase();
await store.close();
await local?.stop();
rmSync(dir, { recursive: true, force: true });
process.exit(0);
