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
import { createRealtime, type Realtime } from "./realtime/index.js";

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

/**
 * A response sent before its request body was read to the end (a 413 from Content-Length, a 415,
 * an early error) says `Connection: close`, and Node then closes the socket after it: the unread
 * bytes can't be taken for the next request, and a keep-alive client knows not to reuse the
 * connection rather than finding it closed under its next request.
 */
export function closeAfterUnreadBody(listener: Listener): Listener {
  return (req, res) => {
    const length = req.headers["content-length"];
    if (req.headers["transfer-encoding"] !== undefined || (length !== undefined && length !== "0")) {
      const writeHead = res.writeHead;
      res.writeHead = function (this: ServerResponse, ...args: Parameters<typeof writeHead>) {
        if (!req.readableEnded) this.setHeader("Connection", "close");
        return writeHead.apply(this, args);
      } as typeof writeHead;
    }
    return listener(req, res);
  };
}

export interface ServerOptions {
  /**
   * Runs around the handling of each request, so that everything the request causes happens
   * inside it (the tests attribute database commands to routes with an AsyncLocalStorage).
   */
  around?: (req: Request, handle: () => Response | Promise<Response>) => Response | Promise<Response>;
}

export function createServer(deps: Deps, { around }: ServerOptions = {}): HushServer {
  const app = createApp(deps);
  const fetch: typeof app.fetch = around
    ? (req, ...rest) => around(req, () => app.fetch(req, ...rest))
    : app.fetch;
  const server = createAdaptorServer({
    fetch,
    createServer: ((options: object, listener: Listener) =>
      createHttpServer(options, closeAfterUnreadBody(listener))) as typeof createHttpServer,
  }) as Server;
  const realtime = createRealtime(deps);
  server.on("upgrade", realtime.upgrade);
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
