import { randomUUID } from "node:crypto";
import { getConnInfo } from "@hono/node-server/conninfo";
import type { Context, MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import { clientAddressResolver, type TrustProxy } from "./client-ip.js";
import type { Logger } from "./logger.js";
import type { Metrics } from "./metrics.js";
import type { AppEnv } from "./openapi.js";

const incomingId = /^[A-Za-z0-9._-]{8,64}$/;

/**
 * Request id, access log and request metrics, and nothing else: every request pays for this, so it
 * touches neither the body nor the client address. Paths are logged without query strings.
 */
export function observe(logger: Logger, metrics: Metrics): MiddlewareHandler<AppEnv> {
  const requests = metrics.counter("http_requests_total", "HTTP requests by route and status");
  const latency = metrics.histogram("http_request_duration_seconds", "HTTP latency by route and status");
  return async (c, next) => {
    const started = performance.now();
    const given = c.req.header("x-request-id");
    const requestId = given && incomingId.test(given) ? given : randomUUID();
    c.set("requestId", requestId);
    c.header("X-Request-Id", requestId);
    await next();
    const route = matchedRoutes(c).findLast((r) => r.method !== "ALL")?.path ?? "unmatched";
    const status = c.res.status;
    const ms = performance.now() - started;
    const labels = `method="${c.req.method}",route="${route}",status="${status}"`;
    requests.add(labels, 1);
    latency.observe(labels, ms / 1000);
    logger.info("request", {
      request_id: requestId,
      method: c.req.method,
      route,
      status,
      ms: Math.round(ms),
    });
  };
}

/**
 * What every API response shares: `Cache-Control: no-store` (responses carry tokens and personal
 * data that no cache between client and server may keep) and the client's address, resolved as
 * TRUST_PROXY says, for the per-IP budgets.
 */
export function apiBasics(trust: TrustProxy): MiddlewareHandler<AppEnv> {
  const resolve = clientAddressResolver(trust);
  return async (c, next) => {
    c.header("Cache-Control", "no-store");
    c.set("clientIp", resolve(peerOf(c), trust ? c.req.header("x-forwarded-for") : undefined));
    await next();
  };
}

function peerOf(c: Context): string | undefined {
  try {
    return getConnInfo(c).remote.address;
  } catch {
    return undefined; // not served by @hono/node-server (app.request in a unit test)
  }
}
