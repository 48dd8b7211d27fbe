import type { Deps } from "../deps.js";
import { createRouter } from "../http/openapi.js";
import { contactHandlers } from "./handlers.js";
import * as r from "./routes.js";

export function contactRoutes(deps: Deps) {
  const h = contactHandlers(deps);
  return createRouter()
    .openapi(r.createContact, h.createContact)
    .openapi(r.acceptContact, h.acceptContact)
    .openapi(r.deleteContact, h.deleteContact)
    .openapi(r.updateContact, h.updateContact)
    .openapi(r.listContacts, h.listContacts);
}
