import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { createDeps } from "../src/compose.js";
import { loadConfig } from "../src/config.js";
import { connectStore } from "../src/db/store.js";
import { inventory } from "../src/inventory.js";
import { systemClock } from "../src/lib/clock.js";
import { createLogger, type LogLevel } from "../src/lib/logger.js";
import { consoleMailer } from "../src/mail/mailer.js";
import { createServer } from "../src/server.js";

/**
 * One server for bench/run.ts to load, in a process of its own so that the load generator does not
 * share its event loop: `bare` (Hono on @hono/node-server, one route) or `hush` (the whole app, its
 * logger at the level given, writing nowhere). Tells the parent its port, and its CPU time on asking.
 */
const [kind = "bare", level = "info"] = process.argv.slice(2);

async function start(): Promise<number> {
  if (kind === "bare") {
    const app = new Hono();
    app.get("/healthz", (c) => c.json({ status: "ok" }));
    return new Promise((resolve) => {
      serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, (info) => resolve(info.port));
    });
  }
  const logger = createLogger(level as LogLevel, () => {});
  const config = loadConfig({ NODE_ENV: "test", JWT_SECRET: "b".repeat(32), LOG_LEVEL: level });
  const store = await connectStore(process.env.BENCH_MONGODB_URI!, process.env.BENCH_DB!, logger, {
    inventory,
  });
  const deps = createDeps({
    config,
    store,
    clock: systemClock,
    logger,
    mailer: consoleMailer(logger, () => {}),
  });
  const server = createServer(deps);
  return (await server.listen(0)).port;
}

const port = await start();
process.on("message", (m) => {
  if (m === "cpu") process.send!({ cpu: process.cpuUsage() });
  if (m === "exit") process.exit(0); // a clean exit, so that --cpu-prof writes its profile
});
process.send!({ port });
