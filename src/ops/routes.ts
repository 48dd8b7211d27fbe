import { z } from "@hono/zod-openapi";
import { json, route } from "../http/openapi.js";

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
export const banner = route({
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
export const healthz = route({
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
export const readyz = route({
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
export const metrics = route({
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
