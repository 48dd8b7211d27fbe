import { z } from "@hono/zod-openapi";
import { DISK_FULL_MEMORY_MS, STORE_RETRY_AFTER_SECONDS } from "../db/unavailable.js";
import type { Deps } from "../deps.js";
import { AppError } from "../http/errors.js";
import { createRouter, json, route } from "../http/openapi.js";
import { safeEqualText } from "../lib/random.js";
import { probeWrite } from "./repo.js";

const Banner = z
  .object({ name: z.string(), version: z.string(), api: z.string(), docs: z.string(), openapi: z.string() })
  .openapi("Banner");
const Health = z.object({ status: z.enum(["ok"]).openapi("HealthStatus") }).openapi("Health");
const Ready = z
  .object({
    status: z.enum(["ready", "unavailable"]).openapi("ReadyStatus"),
    database: z.enum(["up", "down"]).openapi("DatabaseStatus"),
  })
  .openapi("Ready");

const tags = ["Operations"];
/** What load balancers and Prometheus poll: not written to the access log unless they fail. */
export const probePaths = ["/healthz", "/readyz", "/metrics"];
const banner = route({
  method: "get",
  path: "/",
  tags,
  security: [],
  operationId: "banner",
  store: false,
  summary: "Service banner",
  description:
    "What this server is and where its documentation lives (`/docs`, `/openapi.json`, `/asyncapi.json`). " +
    "Public, and touches no store",
  responses: { 200: json(Banner, "Service name and where the docs are") },
});
const healthz = route({
  method: "get",
  path: "/healthz",
  tags,
  security: [],
  operationId: "healthz",
  store: false,
  summary: "Liveness: the process answers",
  description:
    "Liveness for a load balancer or orchestrator: 200 whenever the process can answer, whatever the store " +
    "does (readiness, `GET /readyz`, says whether it can serve)",
  responses: { 200: json(Health, "Alive") },
});
const readyz = route({
  method: "get",
  path: "/readyz",
  tags,
  security: [],
  operationId: "readyz",
  store: false,
  summary: "Readiness: the database answers and accepts a write",
  description:
    "Writes one small document (bounded: 1.5 s). `database: down` when the store is unreachable, too slow, " +
    "or cannot write: the probe failed, or a write failed for want of space in the last 30 s (a full disk " +
    "fails writes on and off).",
  responses: {
    200: json(Ready, "Ready"),
    503: json(Ready, "Database unreachable, too slow, or refusing writes"),
  },
});
const metrics = route({
  method: "get",
  path: "/metrics",
  tags,
  security: [],
  operationId: "metrics",
  store: false,
  summary: "Prometheus metrics",
  description:
    "Open when METRICS_TOKEN is unset (the default: keep it off the public side of the reverse proxy, as " +
    "compose.yaml's proxy does); with METRICS_TOKEN set, it needs `Authorization: Bearer <METRICS_TOKEN>`.",
  responses: {
    200: { description: "Prometheus text format", content: { "text/plain": { schema: z.string() } } },
  },
  errors: ["UNAUTHORIZED"],
});

/**
 * Ready when a bounded write succeeds and no write failed for want of space lately: on a full disk
 * writes fail on and off, so one lucky probe must not say ready.
 */
async function ready(deps: Deps) {
  const now = deps.clock.now();
  const full = deps.store.health.diskFullAt;
  if (full !== null && now.getTime() - full < DISK_FULL_MEMORY_MS) return false;
  return probeWrite(deps.store.db, now, 1_500);
}

export function opsRoutes(deps: Deps, version: string) {
  return createRouter()
    .openapi(banner, (c) =>
      c.json({ name: "Hush", version, api: "/api/v1", docs: "/docs", openapi: "/openapi.json" }, 200),
    )
    .openapi(healthz, (c) => c.json({ status: "ok" as const }, 200))
    .openapi(readyz, async (c) =>
      (await ready(deps))
        ? c.json({ status: "ready" as const, database: "up" as const }, 200)
        : c.json({ status: "unavailable" as const, database: "down" as const }, 503, {
            "Retry-After": String(STORE_RETRY_AFTER_SECONDS),
          }),
    )
    .openapi(metrics, (c) => {
      const token = deps.config.METRICS_TOKEN;
      const given = /^Bearer\s+(\S+)$/i.exec(c.req.header("authorization") ?? "")?.[1];
      if (token && !(given && safeEqualText(given, token)))
        throw new AppError("UNAUTHORIZED", "Metrics token required");
      return c.text(deps.metrics.render(), 200, { "Content-Type": "text/plain; version=0.0.4" });
    });
}
