import type { Context } from "hono";
import type { ObjectId } from "mongodb";
import { parseId } from "../db/ids.js";
import type { Deps } from "../deps.js";
import { AppError } from "../http/errors.js";
import type { AppEnv, Auth } from "../http/openapi.js";
import { mine } from "./access.js";
import { toConversationBody } from "./present.js";
import * as r from "./routes.js";

/** What every /conversations handler does first or last: the rate limit, membership, the answer. */
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
  const group = async (c: Context<AppEnv>, id: string, admin: boolean) => {
    const found = await load(c, id);
    if (found.conversation.kind !== "group")
      throw new AppError("INVALID_STATE", "A 1:1 conversation has no members to manage");
    if (admin && found.me.role !== "admin") throw new AppError("FORBIDDEN", "Only group admins may do this");
    return found;
  };

  return { limit, load, present, group };
}
export type ConversationContext = ReturnType<typeof conversationContext>;
