import { type IncomingMessage, STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";
import { decodeJwt } from "jose";
import type { WebSocketServer } from "ws";
import { isStoreUnavailable, storeUnavailable } from "../db/unavailable.js";
import type { Deps } from "../deps.js";
import { AppError, errorBody } from "../http/errors.js";
import { authenticate } from "../sessions/gate.js";
import type { Hub } from "./hub.js";

export const WS_PATH = "/api/v1/ws";
/** The subprotocol a client offers next to `bearer.<token>`; the server answers with it. */
export const SUBPROTOCOL = "hush.v1";

/**
 * The token from `?token=` or from a `Sec-WebSocket-Protocol` value (`bearer.<token>`, or the bare
 * token), which keeps it out of URLs and proxy logs.
 */
export function tokenOf(req: IncomingMessage, url: URL): string | null {
  const query = url.searchParams.get("token");
  if (query) return query;
  const offered = (req.headers["sec-websocket-protocol"] ?? "").split(",").map((p) => p.trim());
  for (const p of offered) {
    if (p.startsWith("bearer.")) return p.slice("bearer.".length);
    if (/^[\w-]+\.[\w-]+\.[\w-]+$/.test(p)) return p;
  }
  return null;
}

/** Answers an upgrade request with an HTTP error in HABIBTI's shape and closes the connection. */
function refuse(socket: Duplex, e: AppError) {
  if (socket.destroyed) return;
  const body = JSON.stringify(errorBody(e));
  const headers = Object.entries(e.headers ?? {}).map(([k, v]) => `${k}: ${v}\r\n`);
  socket.end(
    `HTTP/1.1 ${e.status} ${STATUS_CODES[e.status]}\r\n` +
      headers.join("") +
      "Content-Type: application/json\r\n" +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      "Connection: close\r\n\r\n" +
      body,
  );
}

/**
 * Handles the HTTP server's `upgrade` event: authenticates before upgrading, so a bad, expired or
 * revoked token gets a plain 401 and never a socket.
 */
export function upgradeHandler(deps: Deps, wss: WebSocketServer, hub: Hub, accepting: () => boolean) {
  return (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // Until `ws` takes the socket over (it has its own error handler), a reset must not throw. Made
    // outside this scope: a closure here would keep the request, token and all, alive with the socket.
    const onError = destroyer(socket);
    socket.on("error", onError);
    accept(deps, wss, hub, accepting, req, socket, head)
      .catch((err) => {
        if (err instanceof AppError) return refuse(socket, err);
        if (isStoreUnavailable(err)) return refuse(socket, storeUnavailable());
        deps.logger.error("websocket upgrade failed", { error: err });
        refuse(socket, new AppError("INTERNAL_ERROR"));
      })
      .finally(() => {
        if (!socket.destroyed && socket.listenerCount("error") > 1) socket.off("error", onError);
      });
  };
}

const destroyer = (socket: Duplex) => () => socket.destroy();

async function accept(
  deps: Deps,
  wss: WebSocketServer,
  hub: Hub,
  accepting: () => boolean,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
) {
  const url = new URL(req.url ?? "/", "http://localhost");
  if (url.pathname !== WS_PATH) return refuse(socket, new AppError("NOT_FOUND", "Route not found"));
  if (!accepting()) return refuse(socket, new AppError("INTERNAL_ERROR", "Server shutting down"));
  const token = tokenOf(req, url);
  if (!token) {
    return refuse(
      socket,
      new AppError("UNAUTHORIZED", "Missing token: pass ?token= or a `bearer.<token>` subprotocol"),
    );
  }
  const auth = await authenticate(deps, token);
  // Verified just now: its expiry is when the socket closes (4004), as REST starts answering 401.
  const expiresAt = new Date((decodeJwt(token).exp ?? 0) * 1000);
  if (hub.count(auth.userId.toHexString()) >= deps.config.WS_MAX_SOCKETS_PER_USER) {
    return refuse(socket, new AppError("RATE_LIMITED", "Too many open sockets for this account"));
  }
  if (socket.destroyed) return;
  wss.handleUpgrade(req, socket, head, (ws) => void hub.attach(ws, auth, expiresAt));
}
