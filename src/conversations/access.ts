import type { ObjectId } from "mongodb";
import type { Deps } from "../deps.js";
import { AppError } from "../shared/errors.js";
import { findMember } from "./members.js";
import { findConversation } from "./repo.js";

/** The conversation and the caller's membership: 404 alike for "no such" and "not yours". */
export async function mine(deps: Deps, id: ObjectId, userId: ObjectId) {
  const [conversation, me] = await Promise.all([findConversation(deps, id), findMember(deps, id, userId)]);
  if (!conversation || !me) throw new AppError("NOT_FOUND", "Conversation not found");
  return { conversation, me };
}
