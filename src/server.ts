import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";
import { createAdaptorServer } from "@hono/node-server";
import { createApp } from "./app.js";
import type { Deps } from "./deps.js";
import { atTheServer } from "./pipeline.js";
import { createRealtime, type Realtime } from "./realtime/endpoint.js";

export interface HushServer {
  app: ReturnType<typeof createApp>;
  /** The WebSocket endpoint on the same port (GET /api/v1/ws). */
  realtime: Realtime;
  listen(port: number, host?: string): Promise<AddressInfo>;
  /**
   * Stops accepting, closes WebSockets with 1001, lets in-flight requests finish, then stops the
   * realtime background units. Safe to call twice.
   */
  close(): Promise<void>;
}

type Listener = (req: IncomingMessage, res: ServerResponse) => unknown;

export interface ServerOptions {
  /**
   * Runs around the handling of each request, so that everything the request causes happens
   * inside it (the tests attribute database commands to routes with an AsyncLocalStorage).
   */
  around?: (req: Request, handle: () => Response | Promise<Response>) => Response | Promise<Response>;
}

/**
 * Node's limits on slow clients, from the configuration: a connection that has not sent its headers
 * within HEADERS_TIMEOUT_MS, or its whole request within REQUEST_TIMEOUT_MS, gets a 408 and is
 * closed; an idle keep-alive connection goes after KEEP_ALIVE_TIMEOUT_MS, and a socket silent for
 * IDLE_TIMEOUT_MS is destroyed. Node checks the first two every `connectionsCheckingInterval`, so
 * it is kept well below them. (A socket upgraded to a WebSocket leaves these behind.)
 */
function timeouts(config: Deps["config"]) {
  const check = Math.max(100, Math.min(1_000, Math.floor(config.HEADERS_TIMEOUT_MS / 4)));
  return {
    options: { connectionsCheckingInterval: check },
    apply(server: Server) {
      server.headersTimeout = config.HEADERS_TIMEOUT_MS;
      server.requestTimeout = config.REQUEST_TIMEOUT_MS;
      server.keepAliveTimeout = config.KEEP_ALIVE_TIMEOUT_MS;
      server.setTimeout(config.IDLE_TIMEOUT_MS);
    },
  };
}

export function createServer(deps: Deps, { around }: ServerOptions = {}): HushServer {
  const app = createApp(deps);
  const handle: typeof app.fetch = around
    ? (req, ...rest) => around(req, () => app.fetch(req, ...rest))
    : app.fetch;
  // Counted as live work, which background jobs yield to (src/lib/load.ts).
  const fetch: typeof app.fetch = (req, ...rest) => deps.load.track(Promise.resolve(handle(req, ...rest)));
  const limits = timeouts(deps.config);
  const server = createAdaptorServer({
    fetch,
    createServer: ((options: object, listener: Listener) => {
      // Steps 1, 8 and 9 of every request (src/pipeline.ts): its id, its headers, its log line.
      const pipeline = atTheServer(deps, app, listener);
      return createHttpServer(
        { ...options, ...limits.options, ServerResponse: pipeline.ServerResponse },
        pipeline.listener,
      );
    }) as typeof createHttpServer,
  }) as Server;
  const realtime = createRealtime(deps);
  server.on("upgrade", realtime.upgrade);
  limits.apply(server);
  let closing: Promise<void> | undefined;
  return {
    app,
    realtime,
    listen: (port, host = "127.0.0.1") =>
      new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, host, () => resolve(server.address() as AddressInfo));
      }),
    close() {
      closing ??= (async () => {
        const drained = new Promise<void>((resolve) => {
          if (!server.listening) return resolve();
          // Keep-alive connections go as soon as their in-flight request is answered, not at their timeout.
          const sweep = setInterval(() => server.closeIdleConnections(), 50);
          server.close(() => {
            clearInterval(sweep);
            resolve();
          });
          server.closeIdleConnections();
        });
        await realtime.closeSockets();
        await drained;
        await realtime.stop();
      })();
      return closing;
    },
  };
}
