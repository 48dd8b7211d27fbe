import type { Deps } from "../deps.js";
import { createRouter } from "../http/openapi.js";
import { opsHandlers } from "./handlers.js";
import * as r from "./routes.js";

export function opsRoutes(deps: Deps, version: string) {
  const h = opsHandlers(deps, version);
  return createRouter()
    .openapi(r.banner, h.banner)
    .openapi(r.healthz, h.healthz)
    .openapi(r.readyz, h.readyz)
    .openapi(r.metrics, h.metrics);
}
