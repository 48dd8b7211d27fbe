import { randomFillSync } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Context, Hono } from "hono";
import type { Logger } from "../lib/logger.js";
import { type Metrics, observe, type Series } from "../lib/metrics.js";
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
  // What each method and path was found to be, and its series by status, so that a request builds
  // no key and matches no route once its path has been seen: by method, then path, then status.
  const seen = new Map<string, Map<string, Seen>>();
  let paths = 0;
  const lookUp = (method: string, path: string): Seen => {
    let byPath = seen.get(method);
    const known = byPath?.get(path);
    if (known !== undefined) return known;
    if (paths >= 4_096) {
      seen.clear(); // ids in paths: forget them all rather than grow (metric series are kept)
      paths = 0;
      byPath = undefined;
    }
    const route = routeOf(method, path);
    const entry: Seen = { method, route, quiet: quiet.has(route), statuses: new Map() };
    if (byPath === undefined) seen.set(method, new Map([[path, entry]]));
    else byPath.set(path, entry);
    paths++;
    return entry;
  };
  const seriesOf = (entry: Seen, status: number) => {
    const labels = `method="${entry.method}",route="${entry.route}",status="${status}"`;
    const series = { count: requests.series(labels), latency: latency.series(labels) };
    entry.statuses.set(status, series);
    return series;
  };
  // Called by HushResponse.writeHead: the latency is to the response head, the status is final.
  const record = (res: HushResponse) => {
    const req = res.req;
    const url = req.url ?? "/";
    const query = url.indexOf("?");
    const entry = lookUp(req.method ?? "GET", query === -1 ? url : url.slice(0, query));
    const status = res.statusCode;
    const ms = performance.now() - res.startedAt;
    const series = entry.statuses.get(status) ?? seriesOf(entry, status);
    series.count.n += 1;
    observe(series.latency, ms / 1000);
    if (status >= 400 || !entry.quiet) {
      logger.info("request", {
        request_id: res.requestId,
        method: entry.method,
        route: entry.route,
        status,
        ms: Math.round(ms),
      });
    }
  };
  const newId = requestIds();
  return (req, res) => {
    const r = res as HushResponse;
    readHead(req, r, newId);
    r.startedAt = performance.now();
    r.onHead = record;
    return listener(req, res);
  };
}

interface Seen {
  method: string;
  route: string;
  quiet: boolean;
  statuses: Map<number, { count: { n: number }; latency: Series }>;
}

/**
 * One pass over the raw request headers for what the response needs: a sane incoming request id
 * (else a fresh one) and whether a body was announced. `req.headers` would build an object of
 * every header on each request, which a GET without a body never needs.
 */
function readHead(req: IncomingMessage, res: HushResponse, newId: () => string) {
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
  res.requestId = id ?? newId();
  res.announcedBody = body;
}

/**
 * Random (version 4) UUIDs, each written as one flat string. `crypto.randomUUID()` builds its
 * string by concatenating 20 pieces, which Node then copies into one when it writes the header:
 * about 0.2 µs and 500 bytes of garbage per request, against 0.1 µs and one 36-character string
 * here. The random bytes come from the CSPRNG, 256 ids' worth at a time, as Node's own do.
 */
export function requestIds(): () => string {
  const random = Buffer.allocUnsafe(16 * 256);
  let used = random.length;
  const text = Buffer.alloc(36, "-");
  const digits = Buffer.from("0123456789abcdef");
  // Where each byte's two digits go in xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx.
  const starts = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
  return () => {
    if (used === random.length) {
      randomFillSync(random);
      used = 0;
    }
    const at = used;
    used += 16;
    random[at + 6] = (random[at + 6]! & 0x0f) | 0x40; // version 4
    random[at + 8] = (random[at + 8]! & 0x3f) | 0x80; // RFC 4122 variant
    for (let i = 0; i < 16; i++) {
      const byte = random[at + i]!;
      const to = starts[i]!;
      text[to] = digits[byte >> 4]!;
      text[to + 1] = digits[byte & 15]!;
    }
    return text.toString("latin1", 0, 36);
  };
}

/** The request's id, as `observeRequests` gave it (undefined when not served by it). */
export const requestIdOf = (c: Context) =>
  (c.env as { outgoing?: { requestId?: string } } | undefined)?.outgoing?.requestId;

/**
 * Names a request's route as the app's own router matches it: the pattern of the last route (not
 * catch-all middleware) among its handlers. HEAD is answered by GET routes. `observeRequests`
 * remembers the answer per method and path.
 */
// biome-ignore lint/suspicious/noExplicitAny: any Hono app, whatever its env
export function routeNamer(app: Hono<any, any, any>) {
  return (method: string, path: string): string => {
    const [matches] = app.router.match(method === "HEAD" ? "GET" : method, path);
    for (let i = matches.length - 1; i >= 0; i--) {
      const route = matches[i]![0][1];
      if (route.method !== "ALL") return route.path;
    }
    return "unmatched";
  };
}
