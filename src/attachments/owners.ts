import type { ObjectId } from "mongodb";
import type { Deps } from "../deps.js";
import { AppError } from "../http/errors.js";
import { attachments, eraseWhere } from "./repo.js";

/*
 * What the messages feature does with attachments: a message takes the ones it lists
 * (`attachment_ids`), and they go when it goes. Messages call these; attachments never look at
 * messages. A conversation erased for good takes its attachments through the inventory's
 * `eraseConversation` cascade (see repo.ts).
 */

/** The message that takes attachments, and where it lives (whose members may then read them). */
export interface Owner {
  message_id: ObjectId;
  conversation_id: ObjectId;
  /** The message's position: members who joined after it cannot read it, nor its attachments. */
  message_seq: number;
  /** When the message disappears (ttl_seconds), if it does: its attachments can't be read after. */
  message_expires_at: Date | null;
}

const col = (deps: Deps) => attachments.col(deps.store.db);

/**
 * The message takes every listed attachment, or none: each must be the sender's, complete, not
 * expired and owned by no message. Each take is a compare-and-set, so two messages racing for one
 * attachment cannot both have it, and the expiry job cannot erase one a message has just taken.
 * Taken attachments stop expiring. On refusal the ones already taken are given back and the 400
 * names each bad entry (`attachment_ids.<i>`).
 */
export async function claimForMessage(deps: Deps, senderId: ObjectId, ids: ObjectId[], owner: Owner) {
  const now = deps.clock.now();
  const taken: ObjectId[] = [];
  const fields: Record<string, string> = {};
  for (const [i, id] of ids.entries()) {
    // Already this message's counts as taken: a resumed send claims them again.
    const { matchedCount } = await col(deps).updateOne(
      {
        _id: id,
        uploader_id: senderId,
        state: "complete",
        $or: [{ message_id: null, expires_at: { $gt: now } }, { message_id: owner.message_id }],
      },
      { $set: { ...owner, expires_at: null } },
    );
    if (matchedCount) taken.push(id);
    else fields[`attachment_ids.${i}`] = "not a complete attachment you uploaded that no message has taken";
  }
  if (Object.keys(fields).length) {
    await releaseFromMessage(deps, owner.message_id);
    throw new AppError("VALIDATION_ERROR", "Some attachments cannot be sent with this message", fields);
  }
  return taken;
}

/** Gives a message's attachments back to their uploader (the message was not stored after all): they expire again. */
export async function releaseFromMessage(deps: Deps, messageId: ObjectId) {
  const expires = new Date(deps.clock.now().getTime() + deps.config.ATTACHMENT_TTL * 1000);
  await col(deps).updateMany(
    { message_id: messageId },
    {
      $set: {
        message_id: null,
        conversation_id: null,
        message_seq: null,
        message_expires_at: null,
        expires_at: expires,
      },
    },
  );
}

/** Erases the attachments of these messages with their chunks (delete for everyone, expiry, view-once done). */
export const eraseForMessages = (deps: Deps, messageIds: ObjectId[]) =>
  messageIds.length ? eraseWhere(deps.store.db, { message_id: { $in: messageIds } }, deps.clock.now()) : 0;
