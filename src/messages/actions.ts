import { ObjectId } from "mongodb";
import { audienceOf, consumeUnread, countHidden, noteHides } from "../conversations/counters.js";
import { type MemberDoc, membersOf } from "../conversations/members.js";
import { setLastPreview } from "../conversations/repo.js";
import { devicesOf, recordChange } from "../delivery/deliver.js";
import type { Deps } from "../deps.js";
import { AppError } from "../http/errors.js";
import type { Auth } from "../http/openapi.js";
import { beginOp, endOp, findOp, type OpDoc, takeOp } from "../recovery/ops.js";
import type { UserDoc } from "../users/repo.js";
import { visibleMessage, within } from "./access.js";
import { eraseMessageKeys, keepKey } from "./keys.js";
import { addReceipt, markConsumed, markHidden } from "./receipts.js";
import { findMessage, type MessageDoc, tombstone } from "./repo.js";
import { LIMITS } from "./schemas.js";

/**
 * Takes a message out of one member's unread count, exactly once however many reads, hides and
 * deletions race: the mark's unique insert decides, and only a message that counted for them
 * (someone else's, sent after they joined) is taken back.
 */
async function consume(deps: Deps, message: MessageDoc, member: MemberDoc, hidden = false) {
  const first = await markConsumed(deps, message, member.user_id, hidden);
  const counted = !message.sender_id?.equals(member.user_id) && message.seq > member.joined_seq;
  if (first && counted) await consumeUnread(deps, message.conversation_id, member.user_id);
  return first;
}

/**
 * The reader has read the message: it leaves their unread count (always), and they are listed in
 * its read_by (only when their read_receipts setting is on). True when it was not read before.
 */
export async function readMessage(deps: Deps, auth: Auth, reader: UserDoc, id: ObjectId) {
  const { message, me } = await visibleMessage(deps, auth.userId, id);
  if (message.sender_id?.equals(auth.userId)) return false;
  const first = await consume(deps, message, me);
  const listed =
    !message.deleted &&
    reader.privacy.read_receipts &&
    (await addReceipt(deps, message, "read", auth.userId, null));
  if (first || listed) {
    // The sender hears of it only through a listed receipt; the reader's other devices always do.
    const sender = listed && message.sender_id ? await devicesOf(deps, [message.sender_id]) : [];
    const own = first ? await devicesOf(deps, [auth.userId], auth) : [];
    await recordChange(deps, {
      type: "message_status_update",
      conversation_id: message.conversation_id,
      message_id: id,
      status: "read",
      user_id: auth.userId,
      device_id: null,
      timestamp: deps.clock.now(),
      to_sender: listed,
      targets: [...sender, ...own],
      expires_at: message.expires_at,
    });
  }
  return first;
}

/** Echo's batch: ids the caller cannot see are skipped. Returns how many were newly read. */
export async function readMany(deps: Deps, auth: Auth, reader: UserDoc, ids: ObjectId[]) {
  let marked = 0;
  for (const id of ids) {
    try {
      if (await readMessage(deps, auth, reader, id)) marked++;
    } catch (err) {
      if (!(err instanceof AppError && err.code === "NOT_FOUND")) throw err;
    }
  }
  return marked;
}

/** The calling device has the message; its sender is told once per device. */
export async function markDelivered(deps: Deps, auth: Auth, id: ObjectId) {
  const { message } = await visibleMessage(deps, auth.userId, id);
  if (message.sender_id?.equals(auth.userId) || message.deleted || !message.sender_id) return;
  if (!(await addReceipt(deps, message, "delivered", auth.userId, auth.deviceId))) return;
  await keepKey(deps, message, auth.userId, auth.deviceId);
  await recordChange(deps, {
    type: "message_status_update",
    conversation_id: message.conversation_id,
    message_id: id,
    status: "delivered",
    user_id: auth.userId,
    device_id: auth.deviceId,
    timestamp: deps.clock.now(),
    to_sender: true,
    targets: await devicesOf(deps, [message.sender_id]),
    expires_at: message.expires_at,
  });
}

/** Delete for me: the message is gone from the caller's history and no longer counts for them. */
export async function hideMessage(deps: Deps, auth: Auth, id: ObjectId) {
  const { message, me } = await visibleMessage(deps, auth.userId, id);
  // Before the mark, so that a crash between the two leaves a page reading marks it need not, never
  // one skipping a mark (history.ts reads a member's marks only once `hides` is set).
  if (me.hides === false) await noteHides(deps, message.conversation_id, auth.userId);
  const hid = (await consume(deps, message, me, true)) || (await markHidden(deps, id, auth.userId));
  if (!hid) return;
  await countHidden(deps, message.conversation_id, auth.userId);
  await recordChange(deps, {
    type: "message_deleted",
    conversation_id: message.conversation_id,
    message_id: id,
    deleted_for_everyone: false,
    targets: await devicesOf(deps, [auth.userId], auth),
    expires_at: message.expires_at,
  });
}

/** The steps of a deletion for everyone, by the names the crash tests kill a server at. */
export const DELETE_STEPS = [
  "delete.recorded",
  "delete.tombstoned",
  "delete.erased",
  "delete.consumed",
  "delete.announced",
] as const;

/**
 * Delete for everyone (sender only, within an hour): the ciphertext and every wrapped key are
 * erased, a tombstone stays, and it stops counting as unread for everyone who had not read it.
 * Recorded first (src/recovery/ops.ts): a deletion interrupted after the tombstone is finished by
 * the sender's retry (which finds the record) or by the recovery sweep, never left half done.
 */
export async function deleteForEveryone(deps: Deps, auth: Auth, id: ObjectId) {
  const { message } = await visibleMessage(deps, auth.userId, id);
  if (!message.sender_id?.equals(auth.userId)) {
    throw new AppError("FORBIDDEN", "Only the sender may delete a message for everyone");
  }
  if (message.deleted) {
    // Done, unless an interrupted deletion is still recorded: the retry finishes it.
    const left = await findOp(deps, "delete", id.toHexString());
    const taken = left && (await takeOp(deps, left));
    if (taken) await finishDelete(deps, taken);
    return;
  }
  if (!within(deps, message.created_at, LIMITS.deleteWindowSeconds)) {
    throw new AppError(
      "INVALID_STATE",
      `Messages can be deleted for everyone for ${LIMITS.deleteWindowSeconds / 3600} hour`,
    );
  }
  const op = await beginOp(deps, "delete", id.toHexString(), auth.userId, { device_id: auth.deviceId });
  if (!op) return; // a racing deletion has it
  await deps.checkpoint?.("delete.recorded");
  await finishDelete(deps, op);
}

/** The deletion's steps after the tombstone, each harmless to run again. */
export async function finishDelete(deps: Deps, op: OpDoc) {
  const id = new ObjectId(op._id.slice("delete:".length));
  const message = await findMessage(deps, id);
  if (message && !message.deleted) await tombstone(deps, message);
  await deps.checkpoint?.("delete.tombstoned");
  if (message) {
    await eraseMessageKeys(deps, id);
    await setLastPreview(deps, message.conversation_id, id, null);
    await deps.checkpoint?.("delete.erased");
    for (const member of await audienceOf(deps, message.conversation_id, message.sender_id, message.seq)) {
      await consume(deps, message, member);
    }
    await deps.checkpoint?.("delete.consumed");
    const everyone = (await membersOf(deps, message.conversation_id)).map((m) => m.user_id);
    // Recorded again in full when resumed: recording a deletion for everyone first empties every
    // stream copy naming the message (an earlier try's included), so each device keeps one.
    const targets = await devicesOf(deps, everyone, {
      userId: op.user_id,
      deviceId: String(op.data.device_id),
    });
    await recordChange(deps, {
      type: "message_deleted",
      conversation_id: message.conversation_id,
      message_id: id,
      deleted_for_everyone: true,
      targets,
      expires_at: message.expires_at,
    });
    await deps.checkpoint?.("delete.announced");
  }
  await endOp(deps, op);
}
