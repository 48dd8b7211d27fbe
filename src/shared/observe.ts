import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Context, Hono } from "hono";
import type { Logger } from "./logger.js";
import type { Metrics } from "./metrics.js";
import type { HushResponse } from "./response.js";

type Listener = (req: IncomingMessage, res: ServerResponse) => unknown;
const incomingId = /^[A-Za-z0-9._-]{8,64}$/;

export interface ObserveOptions {
  logger: Logger;
  metrics: Metrics;
  /** The route pattern a request matched ("unmatched" for none), for metric labels and logs. */
  routeOf(method: string, path: string): string;
  /**
   * Routes polled by machines (liveness, readiness, metrics scrapes): counted in the metrics like
   * any other, written to the access log only when they fail, so probes do not drown it.
   */
  quiet?: ReadonlySet<string>;
}

/**
 * What every request gets, done at the HTTP server rather than as Hono middleware so that a request
 * pays for no middleware chain, Headers object or body: an `X-Request-Id` (a sane incoming one is
 * kept; HushResponse writes it with the security headers) and, as its response head goes out, the
 * access log line and request metrics by route pattern. Paths are logged without query strings.
 */
export function observeRequests(
  listener: Listener,
  { logger, metrics, routeOf, quiet = new Set() }: ObserveOptions,
): Listener {
  const requests = metrics.counter("http_requests_total", "HTTP requests by route and status");
  const latency = metrics.histogram("http_request_duration_seconds", "HTTP latency by route and status");
  // Label strings built once per method, route and status: the same string each time is hashed once.
  const labelsOf = new Map<string, string>();
  // Called by HushResponse.writeHead: the latency is to the response head, the status is final.
  const record = (res: HushResponse) => {
    const req = res.req;
    const method = req.method ?? "GET";
    const route = routeOf(method, (req.url ?? "/").split("?", 1)[0]!);
    const status = res.statusCode;
    const ms = performance.now() - res.startedAt;
    const key = `${status} ${method} ${route}`;
    let labels = labelsOf.get(key);
    if (labels === undefined) {
      labels = `method="${method}",route="${route}",status="${status}"`;
      if (labelsOf.size < 4_096) labelsOf.set(key, labels);
    }
    requests.add(labels, 1);
    latency.observe(labels, ms / 1000);
    if (status >= 400 || !quiet.has(route)) {
      logger.info("request", { request_id: res.requestId, method, route, status, ms: Math.round(ms) });
    }
  };
  return (req, res) => {
    const r = res as HushResponse;
    readHead(req, r);
    r.startedAt = performance.now();
    r.onHead = record;
    return listener(req, res);
  };
}

/**
 * One pass over the raw request headers for what the response needs: a sane incoming request id
 * (else a fresh one) and whether a body was announced. `req.headers` would build an object of
 * every header on each request, which a GET without a body never needs.
 */
function readHead(req: IncomingMessage, res: HushResponse) {
  const raw = req.rawHeaders;
  let id: string | undefined;
  let body = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 12 && name.toLowerCase() === "x-request-id") {
      if (incomingId.test(raw[i + 1]!)) id = raw[i + 1];
    } else if (name.length === 14 && name.toLowerCase() === "content-length") body ||= raw[i + 1] !== "0";
    else if (name.length === 17 && name.toLowerCase() === "transfer-encoding") body = true;
  }
  res.requestId = id ?? randomUUID();
  res.announcedBody = body;
}

/** The request's id, as `observeRequests` gave it (undefined when not served by it). */
export const requestIdOf = (c: Context) =>
  (c.env as { outgoing?: { requestId?: string } } | undefined)?.outgoing?.requestId;

/**
 * Names a request's route as the app's own router matches it: the pattern of the last route (not
 * catch-all middleware) among its handlers. HEAD is answered by GET routes. Names are remembered
 * per method and path, a few thousand at most, so a probe's path is matched once, not per request.
 */
// biome-ignore lint/suspicious/noExplicitAny: any Hono app, whatever its env
export function routeNamer(app: Hono<any, any, any>, remember = 4_096) {
  const known = new Map<string, string>();
  return (method: string, path: string): string => {
    const key = `${method} ${path}`;
    let name = known.get(key);
    if (name !== undefined) return name;
    name = "unmatched";
    const [matches] = app.router.match(method === "HEAD" ? "GET" : method, path);
    for (let i = matches.length - 1; i >= 0; i--) {
      const route = matches[i]![0][1];
      if (route.method !== "ALL") {
        name = route.path;
        break;
      }
    }
    if (known.size >= remember) known.clear();
    known.set(key, name);
    return name;
  };
}
