import { randomUUID } from "node:crypto";
import { getConnInfo } from "@hono/node-server/conninfo";
import type { MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import { AppError } from "./errors.js";
import type { Logger } from "./logger.js";
import type { Metrics } from "./metrics.js";
import type { AppEnv } from "./openapi.js";

const incomingId = /^[A-Za-z0-9._-]{8,64}$/;

/** Request id, client IP, access log and request metrics. Paths are logged without query strings. */
export function observe(logger: Logger, metrics: Metrics, trustProxy: boolean): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const started = performance.now();
    const given = c.req.header("x-request-id");
    const requestId = given && incomingId.test(given) ? given : randomUUID();
    c.set("requestId", requestId);
    c.set("clientIp", clientIp(c, trustProxy));
    c.header("X-Request-Id", requestId);
    await next();
    const route = matchedRoutes(c).findLast((r) => r.method !== "ALL")?.path ?? "unmatched";
    const status = c.res.status;
    const ms = performance.now() - started;
    const labels = { method: c.req.method, route, status };
    metrics.inc("http_requests_total", "HTTP requests by route and status", labels);
    metrics.observe("http_request_duration_seconds", "HTTP latency by route and status", labels, ms / 1000);
    logger.info("request", {
      request_id: requestId,
      method: c.req.method,
      route,
      status,
      ms: Math.round(ms),
    });
  };
}

function clientIp(c: Parameters<MiddlewareHandler<AppEnv>>[0], trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = c.req.header("x-forwarded-for")?.split(",")[0]?.trim() || c.req.header("x-real-ip");
    if (forwarded) return forwarded;
  }
  try {
    return getConnInfo(c).remote.address ?? "unknown";
  } catch {
    return "unknown";
  }
}

/** Bodies must be JSON: wrong types get a 415 and malformed JSON a 400 before any route runs. */
export const jsonOnly: MiddlewareHandler<AppEnv> = async (c, next) => {
  const method = c.req.method;
  if (method === "GET" || method === "HEAD" || method === "OPTIONS") return next();
  const length = c.req.header("content-length");
  const hasBody = (length !== undefined && length !== "0") || c.req.header("transfer-encoding") !== undefined;
  if (!hasBody) return next();
  const type = c.req.header("content-type") ?? "";
  if (!/^application\/([a-z.+-]*\+)?json\s*(;|$)/i.test(type)) throw new AppError("UNSUPPORTED_MEDIA_TYPE");
  try {
    await c.req.json(); // cached by Hono for the route's validator
  } catch {
    throw new AppError("INVALID_JSON");
  }
  return next();
};
