import type { ObjectId } from "mongodb";
import type { Deps } from "../deps.js";
import { AppError } from "../http/errors.js";
import { findUser } from "../users/repo.js";
import { findMember, type MemberDoc, membersOf } from "./members.js";
import { type ConversationDoc, findConversation } from "./repo.js";

/** The conversation and the caller's membership: 404 alike for "no such" and "not yours". */
export async function mine(deps: Deps, id: ObjectId, userId: ObjectId) {
  const [conversation, me] = await Promise.all([findConversation(deps, id), findMember(deps, id, userId)]);
  if (!conversation || !me) throw new AppError("NOT_FOUND", "Conversation not found");
  return { conversation, me };
}

/**
 * `mine` with every member (longest-standing first), for a caller who needs them anyway (a send):
 * the caller's own membership is taken from the list, so it costs no read of its own.
 */
export async function mineWithMembers(deps: Deps, id: ObjectId, userId: ObjectId) {
  const [conversation, members] = await Promise.all([findConversation(deps, id), membersOf(deps, id)]);
  const me = members.find((m) => m.user_id.equals(userId));
  if (!conversation || !me) throw new AppError("NOT_FOUND", "Conversation not found");
  return { conversation, me, members };
}

/** The other member of a 1:1 (null when none is left, or in a group), as policy.ts's rules take it. */
export function otherOf(deps: Deps, kind: ConversationDoc["kind"], members: MemberDoc[], me: ObjectId) {
  const other = kind === "one_to_one" ? members.find((m) => !m.user_id.equals(me)) : undefined;
  return other ? { id: other.user_id, account: findUser(deps, other.user_id) } : null;
}
