import type { Deps } from "../deps.js";
import { createRouter } from "../http/openapi.js";
import { authHandlers } from "./handlers.js";
import * as r from "./routes.js";

export function authRoutes(deps: Deps) {
  const h = authHandlers(deps);
  return createRouter()
    .openapi(r.signup, h.signup)
    .openapi(r.login, h.login)
    .openapi(r.resend, h.resend)
    .openapi(r.verify, h.verify)
    .openapi(r.completeSignup, h.completeSignup)
    .openapi(r.refresh, h.refresh)
    .openapi(r.logout, h.logout)
    .openapi(r.listSessions, h.listSessions)
    .openapi(r.deleteSession, h.deleteSession)
    .openapi(r.me, h.me);
}
