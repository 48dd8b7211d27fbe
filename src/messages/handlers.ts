import { parseId } from "../db/ids.js";
import type { Deps } from "../deps.js";
import type { Handlers } from "../http/openapi.js";
import { loadUser } from "../users/repo.js";
import { deleteForEveryone, hideMessage, markDelivered, readMany, readMessage } from "./actions.js";
import { editMessage } from "./edit.js";
import { historyPage, messageFor } from "./history.js";
import type * as r from "./routes.js";
import { send } from "./send.js";
import { openViewOnce } from "./view-once.js";

/** The handlers of the routes in ./routes.ts, typed by them; ./index.ts wires them. */
export function messageHandlers(deps: Deps): Handlers<typeof r> {
  return {
    sendMessage: async (c) => {
      // The same send as the socket's send_message (send.ts); here the limit's count goes in the headers.
      const sent = await send(deps, c.get("auth"), c.req.valid("json"), c);
      return sent.replay ? c.json(sent.message, 200) : c.json(sent.message, 201);
    },

    listMessages: async (c) => {
      const page = await historyPage(
        deps,
        c.get("auth"),
        c.req.valid("param").conversation_id,
        c.req.valid("query"),
      );
      return c.json(page, 200);
    },

    readMessages: async (c) => {
      const auth = c.get("auth");
      const ids = c.req.valid("json").message_ids.map((id, i) => parseId(id, `message_ids.${i}`));
      const { user } = await loadUser(deps, auth.userId);
      const marked = await readMany(deps, auth, user, ids);
      return c.json({ message: "Messages marked as read", marked_count: marked }, 200);
    },

    readMessage: async (c) => {
      const auth = c.get("auth");
      const id = parseId(c.req.valid("param").message_id, "message_id");
      const { user } = await loadUser(deps, auth.userId);
      await readMessage(deps, auth, user, id);
      return c.json({ message: "Message marked as read" }, 200);
    },

    deliveredMessage: async (c) => {
      await markDelivered(deps, c.get("auth"), parseId(c.req.valid("param").message_id, "message_id"));
      return c.json({ message: "Message marked as delivered" }, 200);
    },

    openMessage: async (c) => {
      const auth = c.get("auth");
      const id = parseId(c.req.valid("param").message_id, "message_id");
      const { user } = await loadUser(deps, auth.userId);
      const key = await openViewOnce(deps, auth, user, id);
      return c.json(
        {
          message_id: id.toHexString(),
          user_id: key.user_id.toHexString(),
          device_id: key.device_id,
          encrypted_key: key.encrypted_key,
        },
        200,
      );
    },

    editMessage: async (c) => {
      const auth = c.get("auth");
      const id = parseId(c.req.valid("param").message_id, "message_id");
      const message = await editMessage(deps, auth, id, c.req.valid("json"));
      return c.json(await messageFor(deps, auth, message), 200);
    },

    deleteMessage: async (c) => {
      const auth = c.get("auth");
      const id = parseId(c.req.valid("param").message_id, "message_id");
      // The body is optional: without one, it is a deletion for the caller only.
      const body = (c.req.valid("json") as { delete_for_everyone?: boolean } | undefined) ?? {};
      if (body.delete_for_everyone) {
        await deleteForEveryone(deps, auth, id);
        return c.json({ message: "Message deleted for everyone" }, 200);
      }
      await hideMessage(deps, auth, id);
      return c.json({ message: "Message deleted for you" }, 200);
    },
  };
}
