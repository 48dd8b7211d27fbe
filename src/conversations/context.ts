import type { Context } from "hono";
import type { ObjectId } from "mongodb";
import { type ConversationReason, devicesOf, recordChange } from "../changes/record.js";
import { parseId } from "../db/ids.js";
import type { Deps } from "../deps.js";
import { AppError } from "../shared/errors.js";
import type { AppEnv, Auth } from "../shared/openapi.js";
import { mine } from "./access.js";
import { membersOf } from "./members.js";
import { toConversationBody } from "./present.js";
import * as r from "./routes.js";

/** What every /conversations handler does first or last: the rate limit, membership, the answer, the change. */
export function conversationContext(deps: Deps) {
  const limit = (c: Context<AppEnv>) =>
    deps.limiter.enforce(c, r.conversationRule, c.get("auth").userId.toHexString());
  const load = async (c: Context<AppEnv>, id: string) => {
    await limit(c);
    return mine(deps, parseId(id, "conversation_id"), c.get("auth").userId);
  };
  const present = async (auth: Auth, id: ObjectId) => {
    const { conversation, me } = await mine(deps, id, auth.userId);
    return toConversationBody(deps, auth.userId, conversation, me);
  };
  /** Tells every member's devices (and anyone else named) that the conversation changed. */
  const changed = async (auth: Auth, id: ObjectId, reason: ConversationReason, user: ObjectId | null) => {
    const ids = (await membersOf(deps, id)).map((m) => m.user_id);
    if (user && !ids.some((u) => u.equals(user))) ids.push(user);
    const targets = await devicesOf(deps, ids, auth);
    await recordChange(deps, {
      type: "conversation_updated",
      conversation_id: id,
      reason,
      user_id: user,
      targets,
    });
  };
  const group = async (c: Context<AppEnv>, id: string, admin: boolean) => {
    const found = await load(c, id);
    if (found.conversation.kind !== "group")
      throw new AppError("INVALID_STATE", "A 1:1 conversation has no members to manage");
    if (admin && found.me.role !== "admin") throw new AppError("FORBIDDEN", "Only group admins may do this");
    return found;
  };

  return { limit, load, present, changed, group };
}
export type ConversationContext = ReturnType<typeof conversationContext>;
