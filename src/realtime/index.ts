import { createRouter } from "../http/openapi.js";
import { realtimeHandlers } from "./handlers.js";
import * as r from "./routes.js";

export function realtimeRoutes() {
  const h = realtimeHandlers();
  return createRouter().openapi(r.ws, h.ws);
}
