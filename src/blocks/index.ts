import type { Deps } from "../deps.js";
import { createRouter } from "../http/openapi.js";
import { blockHandlers } from "./handlers.js";
import * as r from "./routes.js";

export function blockRoutes(deps: Deps) {
  const h = blockHandlers(deps);
  return createRouter()
    .openapi(r.listBlocks, h.listBlocks)
    .openapi(r.blockUser, h.blockUser)
    .openapi(r.unblockUser, h.unblockUser);
}
