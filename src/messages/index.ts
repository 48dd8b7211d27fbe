import type { Deps } from "../deps.js";
import { createRouter } from "../http/openapi.js";
import { messageHandlers } from "./handlers.js";
import * as r from "./routes.js";

export function messageRoutes(deps: Deps) {
  const h = messageHandlers(deps);
  return (
    createRouter()
      .openapi(r.sendMessage, h.sendMessage)
      .openapi(r.listMessages, h.listMessages)
      // Before the {message_id} routes: the static segment wins.
      .openapi(r.readMessages, h.readMessages)
      .openapi(r.readMessage, h.readMessage)
      .openapi(r.deliveredMessage, h.deliveredMessage)
      .openapi(r.openMessage, h.openMessage)
      .openapi(r.editMessage, h.editMessage)
      .openapi(r.deleteMessage, h.deleteMessage)
  );
}
