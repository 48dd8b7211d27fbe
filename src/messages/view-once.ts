import type { ObjectId } from "mongodb";
import { setLastPreview } from "../conversations/repo.js";
import { devicesOf, eraseCopies, recordChange, recordOpened } from "../delivery/deliver.js";
import { devicesNamed } from "../delivery/repo.js";
import type { Deps } from "../deps.js";
import { AppError } from "../http/errors.js";
import type { Auth } from "../http/openapi.js";
import { beginOp, endOp, findOp, noteOp, type OpDoc, takeOp } from "../recovery/ops.js";
import type { UserDoc } from "../users/repo.js";
import { visibleMessage } from "./access.js";
import { eraseKey, eraseMessageKeys, findKey, type MessageKeyDoc, unopenedBy } from "./keys.js";
import { findMessage, tombstone } from "./repo.js";

/** The steps of a view-once open, by the names the crash tests kill a server at. */
export const OPEN_STEPS = ["open.recorded", "open.kept", "open.taken", "open.announced"] as const;

/**
 * Hands the calling device its key of a view-once message, once. The open is recorded first
 * (src/recovery/ops.ts, one record per message and device, so racing opens from that device get
 * 410 VIEW_ONCE_OPENED but one), the key is copied into the record, then erased: an open whose
 * process died after that is finished by the same device's retry, which gets the same key (it
 * never saw it), or by the recovery sweep. The sender's devices are told (message_viewed) unless
 * the viewer turned read receipts off. When no recipient device is left to open it, the
 * ciphertext goes: a tombstone remains.
 */
export async function openViewOnce(deps: Deps, auth: Auth, viewer: UserDoc, id: ObjectId) {
  const { message } = await visibleMessage(deps, auth.userId, id);
  if (!message.view_once) throw new AppError("INVALID_STATE", "Not a view-once message");
  if (message.sender_id?.equals(auth.userId)) {
    throw new AppError("INVALID_STATE", "The sender's devices were given the key with the message");
  }
  const key = `${id.toHexString()}:${auth.userId.toHexString()}:${auth.deviceId}`;
  const left = await findOp(deps, "open", key);
  if (left) {
    // An open of this device that died half way: finished here once its lease has passed.
    const taken = await takeOp(deps, left);
    if (!taken) throw new AppError("VIEW_ONCE_OPENED");
    return await finishOpen(deps, taken);
  }
  if (message.deleted) throw new AppError("VIEW_ONCE_OPENED");
  const op = await beginOp(deps, "open", key, auth.userId, {
    message_id: id,
    device_id: auth.deviceId,
    tell_sender: viewer.privacy.read_receipts,
  });
  if (!op) throw new AppError("VIEW_ONCE_OPENED");
  await deps.checkpoint?.("open.recorded");
  return await finishOpen(deps, op);
}

interface OpenData {
  message_id: ObjectId;
  device_id: string;
  tell_sender: boolean;
  key?: MessageKeyDoc;
}

/** The open's steps, each harmless to run again; the key, or 410 when there was none to open. */
export async function finishOpen(deps: Deps, op: OpDoc): Promise<MessageKeyDoc> {
  const d = op.data as unknown as OpenData;
  const message = await findMessage(deps, d.message_id);
  let key = d.key ?? null;
  if (!key && message && !message.deleted) {
    key = await findKey(deps, message, op.user_id, d.device_id);
    if (key) await noteOp(deps, op, { key });
  }
  if (!key || !message) {
    await endOp(deps, op);
    throw new AppError("VIEW_ONCE_OPENED");
  }
  await deps.checkpoint?.("open.kept");
  await eraseKey(deps, key._id);
  await recordOpened(deps, d.message_id, op.user_id, d.device_id);
  await deps.checkpoint?.("open.taken");
  if (d.tell_sender && message.sender_id) {
    const viewed = (data: unknown) => {
      const v = data as { user_id?: string; device_id?: string };
      return v.user_id === op.user_id.toHexString() && v.device_id === d.device_id;
    };
    const told = await devicesNamed(deps, d.message_id.toHexString(), "message_viewed", viewed);
    const targets = (await devicesOf(deps, [message.sender_id])).filter(
      (t) => !told.has(`${t.user_id.toHexString()}:${t.device_id}`),
    );
    await recordChange(deps, {
      type: "message_viewed",
      conversation_id: message.conversation_id,
      message_id: d.message_id,
      user_id: op.user_id,
      device_id: d.device_id,
      timestamp: deps.clock.now(),
      targets,
      expires_at: message.expires_at,
    });
  }
  await deps.checkpoint?.("open.announced");
  if (!(await unopenedBy(deps, d.message_id, message.sender_id))) {
    // Opened by all: the ciphertext goes (again, harmlessly, if an earlier try got this far).
    await tombstone(deps, message);
    await eraseMessageKeys(deps, d.message_id);
    await eraseCopies(deps, d.message_id);
    await setLastPreview(deps, message.conversation_id, d.message_id, null);
  }
  await endOp(deps, op);
  return key;
}
