import type { Deps } from "../deps.js";
import { createRouter } from "../http/openapi.js";
import { keyHandlers } from "./handlers.js";
import * as r from "./routes.js";

export function keyRoutes(deps: Deps) {
  const h = keyHandlers(deps);
  return createRouter()
    .openapi(r.uploadKeys, h.uploadKeys)
    .openapi(r.countKeys, h.countKeys)
    .openapi(r.claimKeys, h.claimKeys);
}
