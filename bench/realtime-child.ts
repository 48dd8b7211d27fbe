import { createServer } from "node:http";
import { WebSocketServer } from "ws";
import { createDeps } from "../src/compose.js";
import { loadConfig } from "../src/config.js";
import { connectStore } from "../src/db/store.js";
import { inventory } from "../src/inventory.js";
import { systemClock } from "../src/lib/clock.js";
import { createLogger } from "../src/lib/logger.js";
import { consoleMailer } from "../src/mail/mailer.js";
import { createServer as createHush } from "../src/server.js";

/*
 * A server in a process of its own, for the memory figure: `hush` (the real server on the given
 * store) or `bare` (a `ws` server that only holds its sockets). It reports its port, then answers
 * each "mem" message with its memory after a full garbage collection. Run with --expose-gc.
 */

const gc = (globalThis as { gc?: () => void }).gc;
const send = (m: unknown) => process.send?.(m);
process.on("message", (m) => {
  if (m !== "mem") return;
  gc?.();
  gc?.();
  const u = process.memoryUsage();
  send({ rss: u.rss, heapUsed: u.heapUsed, heapTotal: u.heapTotal, external: u.external });
});

if (process.argv[2] === "bare") {
  const held = new Set<unknown>();
  const http = createServer();
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  http.on("upgrade", (req, socket, head) =>
    wss.handleUpgrade(req, socket, head, (ws) => {
      held.add(ws);
      ws.on("close", () => held.delete(ws));
    }),
  );
  http.listen(0, "127.0.0.1", () => send({ port: (http.address() as { port: number }).port }));
} else {
  const logger = createLogger("silent");
  const config = loadConfig({
    NODE_ENV: "test",
    JWT_SECRET: process.env.BENCH_SECRET,
    WS_MAX_SOCKETS_PER_USER: "10000",
  });
  const store = await connectStore(process.env.BENCH_URI!, process.env.BENCH_DB!, logger, { inventory });
  const deps = createDeps({ config, store, clock: systemClock, logger, mailer: consoleMailer(logger) });
  const server = createHush(deps);
  const { port } = await server.listen(0);
  send({ port });
}
