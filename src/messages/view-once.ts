import type { ObjectId } from "mongodb";
import { devicesOf, eraseCopies, recordChange, recordOpened } from "../changes/record.js";
import { setLastPreview } from "../conversations/repo.js";
import type { Deps } from "../deps.js";
import { AppError } from "../shared/errors.js";
import type { Auth } from "../shared/openapi.js";
import type { UserDoc } from "../users/repo.js";
import { visibleMessage } from "./access.js";
import { eraseMessageKeys, takeKey, unopenedBy } from "./keys.js";
import { tombstone } from "./repo.js";

/**
 * Hands the calling device its key of a view-once message, once: the key is found and erased in
 * one step (takeKey), so a second open from any session, or the losers of racing opens, get 410
 * VIEW_ONCE_OPENED. The sender's devices are told (message_viewed) unless the viewer turned read
 * receipts off. When no recipient device is left to open it, the ciphertext goes: a tombstone remains.
 */
export async function openViewOnce(deps: Deps, auth: Auth, viewer: UserDoc, id: ObjectId) {
  const { message } = await visibleMessage(deps, auth.userId, id);
  if (!message.view_once) throw new AppError("INVALID_STATE", "Not a view-once message");
  if (message.sender_id?.equals(auth.userId)) {
    throw new AppError("INVALID_STATE", "The sender's devices were given the key with the message");
  }
  const key = message.deleted ? null : await takeKey(deps, message, auth.userId, auth.deviceId);
  if (!key) throw new AppError("VIEW_ONCE_OPENED");
  await recordOpened(deps, id, auth.userId, auth.deviceId);
  if (viewer.privacy.read_receipts && message.sender_id) {
    await recordChange(deps, {
      type: "message_viewed",
      conversation_id: message.conversation_id,
      message_id: id,
      user_id: auth.userId,
      device_id: auth.deviceId,
      timestamp: deps.clock.now(),
      targets: await devicesOf(deps, [message.sender_id]),
      expires_at: message.expires_at,
    });
  }
  if (!(await unopenedBy(deps, id, message.sender_id)) && (await tombstone(deps, message))) {
    await eraseMessageKeys(deps, id);
    await eraseCopies(deps, id);
    await setLastPreview(deps, message.conversation_id, id, null);
  }
  return key;
}
