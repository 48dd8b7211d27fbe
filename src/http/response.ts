import { ServerResponse } from "node:http";
import { Hono } from "hono";
import { secureHeaders } from "hono/secure-headers";

/**
 * The headers hono/secure-headers puts on a response, asked of the middleware itself once at
 * start-up: its defaults, less those that only ever mattered to old browsers or to HTML pages.
 * Every response gets them from `HushResponse.writeHead` as plain Node headers: run as a
 * middleware, it cost each request a Headers object and a dozen validated writes, a third of
 * GET /healthz's throughput.
 */
export const SECURITY_HEADERS: readonly string[] = await (async () => {
  const probe = new Hono();
  const off = false;
  probe.use(
    secureHeaders({
      xXssProtection: off,
      xDownloadOptions: off,
      xPermittedCrossDomainPolicies: off,
      xDnsPrefetchControl: off,
      originAgentCluster: off,
      crossOriginOpenerPolicy: off,
    }),
  );
  probe.get("/", (c) => c.body(null));
  const res = await probe.request("/");
  return [...res.headers].filter(([name]) => name !== "content-type").flat();
})();
const securityNames = new Set(SECURITY_HEADERS.filter((_, i) => i % 2 === 0));
// A name of none of these lengths is no security header: most are told apart without lower-casing.
const securityLengths = new Set([...securityNames].map((name) => name.length));
const isSecurityHeader = (name: unknown) =>
  typeof name === "string" && securityLengths.has(name.length) && securityNames.has(name.toLowerCase());

/**
 * The server's response class. Whatever headers the app answers with, `writeHead` adds the
 * request's `X-Request-Id` and the security headers in the same call, so that Node stays on its
 * fast path (nothing set before writeHead), and tells `onHead` (the access log and metrics) the
 * status: no per-request listener, middleware or Headers object.
 *
 * It also says `Connection: close` on a response sent before its request body was read to the end
 * (a 413 from Content-Length, a 415, a 401 before the body): Node then closes the socket after it,
 * the unread bytes can't be taken for the next request, and a keep-alive client knows not to reuse
 * the connection rather than finding it closed under its next request.
 */
export class HushResponse extends ServerResponse {
  requestId: string | undefined;
  /** The request announced a body (Content-Length above 0, or Transfer-Encoding). */
  announcedBody = false;
  startedAt = 0;
  onHead: ((res: HushResponse) => void) | undefined;
}
const writeHead = ServerResponse.prototype.writeHead as (...args: unknown[]) => ServerResponse;
HushResponse.prototype.writeHead = function (this: HushResponse, status: number, a?: unknown, b?: unknown) {
  const reason = typeof a === "string" ? a : undefined;
  const given = (reason === undefined ? a : b) as Record<string, unknown> | unknown[] | undefined;
  const headers: unknown[] = [];
  let own = false; // the app set a security header itself: its value stands
  if (Array.isArray(given)) {
    for (let i = 0; i < given.length; i += 2) {
      own ||= isSecurityHeader(given[i]);
      headers.push(given[i], given[i + 1]);
    }
  } else if (given) {
    for (const name in given) {
      own ||= isSecurityHeader(name);
      headers.push(name, given[name]);
    }
  }
  if (this.requestId) headers.push("X-Request-Id", this.requestId);
  if (own) {
    const named = new Set(headers.filter((_, i) => i % 2 === 0).map((h) => String(h).toLowerCase()));
    for (let i = 0; i < SECURITY_HEADERS.length; i += 2) {
      if (!named.has(SECURITY_HEADERS[i]!)) headers.push(SECURITY_HEADERS[i], SECURITY_HEADERS[i + 1]);
    }
  } else for (let i = 0; i < SECURITY_HEADERS.length; i++) headers.push(SECURITY_HEADERS[i]);
  if (this.announcedBody && !this.req.readableEnded) headers.push("Connection", "close");
  this.statusCode = status;
  this.onHead?.(this);
  return reason === undefined
    ? writeHead.call(this, status, headers)
    : writeHead.call(this, status, reason, headers);
} as unknown as HushResponse["writeHead"];
