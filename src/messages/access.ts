import type { ObjectId } from "mongodb";
import { findMember } from "../conversations/members.js";
import type { Deps } from "../deps.js";
import { AppError } from "../http/errors.js";
import { isHidden } from "./receipts.js";
import { findMessage, isExpired } from "./repo.js";

/**
 * A message as its reader may reach it: in a conversation they are in, sent after they joined, and
 * not deleted for them, and not past its expiry. Anything else is one 404, whether the message exists or not.
 */
export async function visibleMessage(deps: Deps, userId: ObjectId, id: ObjectId) {
  const message = await findMessage(deps, id);
  const me = message && (await findMember(deps, message.conversation_id, userId));
  if (
    !message ||
    !me ||
    message.seq <= me.joined_seq ||
    isExpired(message, deps.clock.now()) ||
    (await isHidden(deps, id, userId))
  ) {
    throw new AppError("NOT_FOUND", "Message not found");
  }
  return { message, me };
}

/** Whether the message's window (edit: 15 min, delete for everyone: 1 h) is still open. */
export const within = (deps: Deps, sentAt: Date, seconds: number) =>
  deps.clock.now().getTime() - sentAt.getTime() <= seconds * 1000;
