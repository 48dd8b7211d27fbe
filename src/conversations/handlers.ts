import { parseId } from "../db/ids.js";
import { devicesOf, recordChange } from "../delivery/deliver.js";
import type { Deps } from "../deps.js";
import { linkOf } from "../devices/present.js";
import { listDevicesOf } from "../devices/repo.js";
import { AppError } from "../http/errors.js";
import type { Handlers } from "../http/openapi.js";
import { together } from "../lib/together.js";
import { absentTo, assertMayMessage } from "../policy/policy.js";
import { findUser } from "../users/repo.js";
import { conversationContext } from "./context.js";
import { listMemberships, setArchived } from "./counters.js";
import { groupHandlers } from "./groups.js";
import { membersOf } from "./members.js";
import { toConversationBodies, toConversationBody } from "./present.js";
import type * as r from "./routes.js";
import { createDirect } from "./settings.js";

/** The handlers of the routes in ./routes.ts, typed by them; ./index.ts wires them. */
export function conversationHandlers(deps: Deps): Handlers<typeof r> {
  const ctx = conversationContext(deps);
  const { limit, load, present } = ctx;

  return {
    ...groupHandlers(deps, ctx),
    createConversation: async (c) => {
      const auth = c.get("auth");
      await limit(c);
      const other = parseId(c.req.valid("json").participant_id, "participant_id");
      if (other.equals(auth.userId)) {
        throw new AppError("VALIDATION_ERROR", "You cannot start a conversation with yourself", {
          participant_id: "cannot be yourself",
        });
      }
      const user = await findUser(deps, other);
      if (!user) throw new AppError("USER_NOT_FOUND", undefined, { participant_id: "user not found" });
      await assertMayMessage(deps, auth.userId, user, "participant_id");
      const { conversation_id, created } = await createDirect(deps, auth, other);
      if (!created) await setArchived(deps, conversation_id, auth.userId, false);
      const body = await present(auth, conversation_id);
      return created ? c.json(body, 201) : c.json(body, 200);
    },
    listConversations: async (c) => {
      const auth = c.get("auth");
      const q = c.req.valid("query");
      // The page's first read needs no answer from the rate limit: both at once, the limit's error first.
      const [, { docs, total }] = await together(
        limit(c),
        listMemberships(deps, auth.userId, q.limit, q.skip),
      );
      return c.json({ conversations: await toConversationBodies(deps, auth.userId, docs), total }, 200);
    },
    getConversation: async (c) => {
      const { conversation, me } = await load(c, c.req.valid("param").conversation_id);
      return c.json(await toConversationBody(deps, c.get("auth").userId, conversation, me), 200);
    },
    listDevices: async (c) => {
      const { conversation } = await load(c, c.req.valid("param").conversation_id);
      const all = (await membersOf(deps, conversation._id)).map((m) => m.user_id);
      // Someone who looks absent to the caller (a blocker in a 1:1) has no devices, as a deleted account.
      const absent = await absentTo(deps, c.get("auth").userId, conversation.kind, all);
      const ids = all.filter((id) => !absent.has(id.toHexString()));
      const devices = (await listDevicesOf(deps, ids)).map((d) => ({
        user_id: d.user_id.toHexString(),
        device_id: d.device_id,
        identity_key: d.identity_key,
        key_type: d.key_type,
        registration_id: d.registration_id,
        ...linkOf(d),
      }));
      return c.json({ devices }, 200);
    },
    archiveConversation: async (c) => {
      const auth = c.get("auth");
      const { conversation } = await load(c, c.req.valid("param").conversation_id);
      await setArchived(deps, conversation._id, auth.userId, true);
      const targets = await devicesOf(deps, [auth.userId], auth);
      await recordChange(deps, {
        type: "conversation_updated",
        conversation_id: conversation._id,
        reason: "archived",
        user_id: auth.userId,
        targets,
      });
      return c.body(null, 204);
    },
  };
}
