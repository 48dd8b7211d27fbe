import type { Deps } from "../deps.js";
import { createRouter } from "../http/openapi.js";
import { streamHandlers } from "./handlers.js";
import * as r from "./routes.js";

export function streamRoutes(deps: Deps) {
  const h = streamHandlers(deps);
  return createRouter().openapi(r.sync, h.sync);
}
