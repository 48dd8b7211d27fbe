import type { Deps } from "../deps.js";
import { createRouter } from "../http/openapi.js";
import { pushHandlers } from "./handlers.js";
import * as r from "./routes.js";

export function pushRoutes(deps: Deps) {
  const h = pushHandlers(deps);
  return createRouter()
    .openapi(r.putSubscription, h.putSubscription)
    .openapi(r.deleteSubscription, h.deleteSubscription)
    .openapi(r.getVapidKey, h.getVapidKey);
}
