import { parseId } from "../db/ids.js";
import type { Deps } from "../deps.js";
import { createRouter } from "../http/openapi.js";
import { loadUser } from "../users/repo.js";
import { deleteForEveryone, hideMessage, markDelivered, readMany, readMessage } from "./actions.js";
import { editMessage } from "./edit.js";
import { historyPage, messageFor } from "./history.js";
import { toMessageBody } from "./present.js";
import * as r from "./routes.js";
import { sendMessage } from "./send.js";
import { openViewOnce } from "./view-once.js";

export function messageRoutes(deps: Deps) {
  const app = createRouter();

  app.openapi(r.sendMessage, async (c) => {
    const auth = c.get("auth");
    await deps.limiter.enforce(c, r.sendRule, auth.userId.toHexString());
    const sent = await sendMessage(deps, auth, c.req.valid("json"));
    if (sent.replay) return c.json(await messageFor(deps, auth, sent.message), 200);
    return c.json(toMessageBody(sent.message, auth.userId, sent.own), 201);
  });

  app.openapi(r.listMessages, async (c) => {
    const page = await historyPage(
      deps,
      c.get("auth"),
      c.req.valid("param").conversation_id,
      c.req.valid("query"),
    );
    return c.json(page, 200);
  });

  // Declared before the {message_id} routes: the static segment wins.
  app.openapi(r.readMessages, async (c) => {
    const auth = c.get("auth");
    const ids = c.req.valid("json").message_ids.map((id, i) => parseId(id, `message_ids.${i}`));
    const { user } = await loadUser(deps, auth.userId);
    const marked = await readMany(deps, auth, user, ids);
    return c.json({ message: "Messages marked as read", marked_count: marked }, 200);
  });

  app.openapi(r.readMessage, async (c) => {
    const auth = c.get("auth");
    const id = parseId(c.req.valid("param").message_id, "message_id");
    const { user } = await loadUser(deps, auth.userId);
    await readMessage(deps, auth, user, id);
    return c.json({ message: "Message marked as read" }, 200);
  });

  app.openapi(r.deliveredMessage, async (c) => {
    await markDelivered(deps, c.get("auth"), parseId(c.req.valid("param").message_id, "message_id"));
    return c.json({ message: "Message marked as delivered" }, 200);
  });

  app.openapi(r.openMessage, async (c) => {
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
  });

  app.openapi(r.editMessage, async (c) => {
    const auth = c.get("auth");
    const id = parseId(c.req.valid("param").message_id, "message_id");
    const message = await editMessage(deps, auth, id, c.req.valid("json"));
    return c.json(await messageFor(deps, auth, message), 200);
  });

  app.openapi(r.deleteMessage, async (c) => {
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
  });

  return app;
}
