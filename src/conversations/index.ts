import type { Deps } from "../deps.js";
import { createRouter } from "../http/openapi.js";
import { conversationHandlers } from "./handlers.js";
import * as r from "./routes.js";

export function conversationRoutes(deps: Deps) {
  const h = conversationHandlers(deps);
  return createRouter()
    .openapi(r.createConversation, h.createConversation)
    .openapi(r.listConversations, h.listConversations)
    .openapi(r.getConversation, h.getConversation)
    .openapi(r.listDevices, h.listDevices)
    .openapi(r.archiveConversation, h.archiveConversation)
    .openapi(r.createGroup, h.createGroup)
    .openapi(r.updateGroup, h.updateGroup)
    .openapi(r.addMember, h.addMember)
    .openapi(r.removeMember, h.removeMember)
    .openapi(r.addAdmin, h.addAdmin)
    .openapi(r.removeAdmin, h.removeAdmin)
    .openapi(r.leaveGroup, h.leaveGroup);
}
