import type { Deps } from "../deps.js";
import { createRouter } from "../http/openapi.js";
import { userHandlers } from "./handlers.js";
import * as r from "./routes.js";

export function userRoutes(deps: Deps) {
  const h = userHandlers(deps);
  return (
    createRouter()
      // Declared before getUser: a static segment must win over /users/{user_id}.
      .openapi(r.getMe, h.getMe)
      .openapi(r.updateMe, h.updateMe)
      .openapi(r.deleteMe, h.deleteMe)
      .openapi(r.searchUsers, h.searchUsers)
      .openapi(r.getUser, h.getUser)
  );
}
