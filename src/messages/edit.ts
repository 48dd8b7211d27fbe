import type { z } from "@hono/zod-openapi";
import type { ObjectId } from "mongodb";
import { mineWithMembers, otherOf } from "../conversations/access.js";
import { setLastPreview } from "../conversations/repo.js";
import { recordChange } from "../delivery/deliver.js";
import { devicesNamed } from "../delivery/repo.js";
import type { Deps } from "../deps.js";
import { AppError } from "../http/errors.js";
import type { Auth } from "../http/openapi.js";
import { assertMayActIn } from "../policy/policy.js";
import { beginOp, endOp, type OpDoc } from "../recovery/ops.js";
import { visibleMessage, within } from "./access.js";
import { dropKeySet, dropOlderKeys, insertKeys, type WrappedKey } from "./keys.js";
import { targetsOf, toMessageEvent } from "./present.js";
import { checkRecipients } from "./recipients.js";
import { applyEdit, findMessage, type MessageDoc, nextVersion } from "./repo.js";
import { type EditMessage, LIMITS } from "./schemas.js";

/** The steps of an edit, by the names the crash tests kill a server at. */
export const EDIT_STEPS = ["edit.recorded", "edit.keys", "edit.applied", "edit.announced"] as const;

/**
 * Replaces a message's ciphertext and its whole key set (sender only, within 15 minutes). The new
 * keys are written under a new version before the message points at it, and the old ones dropped
 * after, so a reader always finds the keys of the content it reads. Recorded first
 * (src/recovery/ops.ts): an edit interrupted half way is finished by the recovery sweep.
 */
export async function editMessage(deps: Deps, auth: Auth, id: ObjectId, body: z.infer<typeof EditMessage>) {
  const { message } = await visibleMessage(deps, auth.userId, id);
  if (!message.sender_id?.equals(auth.userId))
    throw new AppError("FORBIDDEN", "Only the sender may edit a message");
  if (message.deleted) throw new AppError("INVALID_STATE", "The message was deleted");
  // A new key set would hand every recipient a fresh key: view-once would be view-twice.
  if (message.view_once) throw new AppError("INVALID_STATE", "A view-once message cannot be edited");
  if (!within(deps, message.created_at, LIMITS.editWindowSeconds)) {
    throw new AppError(
      "INVALID_STATE",
      `Messages can be edited for ${LIMITS.editWindowSeconds / 60} minutes`,
    );
  }
  const { conversation, members } = await mineWithMembers(deps, message.conversation_id, auth.userId);
  // An edit reaches every member's devices: in a 1:1, held to the send rule (blocks included).
  await assertMayActIn(
    deps,
    auth.userId,
    conversation.kind,
    otherOf(deps, conversation.kind, members, auth.userId),
  );
  const keys = await checkRecipients(
    deps,
    auth,
    members.map((m) => m.user_id),
    body.recipient_keys,
  );
  const reserved = await nextVersion(deps, id);
  if (!reserved) throw new AppError("INVALID_STATE", "The message was deleted");
  const version = reserved.next_version;
  const op = await beginOp(deps, "edit", `${id.toHexString()}:${version}`, auth.userId, {
    message_id: id,
    version,
    device_id: auth.deviceId,
    encrypted_content: body.encrypted_content,
    encrypted_preview: body.encrypted_preview ?? null,
    content_type: body.content_type ?? message.content_type,
    keys,
  });
  // The version was reserved for this edit alone, so its record cannot be taken.
  await deps.checkpoint?.("edit.recorded");
  const current = await finishEdit(deps, op!);
  if (!current || current.deleted) throw new AppError("INVALID_STATE", "The message was deleted");
  return current;
}

interface EditData {
  message_id: ObjectId;
  version: number;
  device_id: string;
  encrypted_content: string;
  encrypted_preview: string | null;
  content_type: MessageDoc["content_type"];
  keys: WrappedKey[];
}

/**
 * The edit's steps, each harmless to run again: the keys under the new version, the message
 * pointed at it (unless a later edit landed first: then it stands and these keys go), the old
 * keys dropped, the preview, and the change (skipping devices an earlier try told). Returns the
 * message as it now is.
 */
export async function finishEdit(deps: Deps, op: OpDoc) {
  const d = op.data as unknown as EditData;
  const message = await findMessage(deps, d.message_id);
  if (!message || message.deleted) {
    await dropKeySet(deps, d.message_id, d.version);
    await endOp(deps, op);
    return message;
  }
  await insertKeys(deps, message, d.version, d.keys, op.user_id, deps.clock.now());
  await deps.checkpoint?.("edit.keys");
  await applyEdit(deps, d.message_id, d.version, {
    encrypted_content: d.encrypted_content,
    encrypted_preview: d.encrypted_preview,
    content_type: d.content_type,
  });
  const current = await findMessage(deps, d.message_id);
  if (!current || current.deleted || current.version !== d.version) {
    await dropKeySet(deps, d.message_id, d.version); // a later edit (or a deletion) stands
    await endOp(deps, op);
    return current;
  }
  await deps.checkpoint?.("edit.applied");
  await dropOlderKeys(deps, d.message_id, d.version);
  await setLastPreview(deps, current.conversation_id, d.message_id, d.encrypted_preview);
  const event = toMessageEvent(current);
  const told = await devicesNamed(
    deps,
    event.id,
    "message_edited",
    (data) => (data as { message?: { edited_at?: string | null } }).message?.edited_at === event.edited_at,
  );
  const targets = targetsOf(d.keys, { userId: op.user_id, deviceId: d.device_id }, current).filter(
    (t) => !told.has(`${t.user_id.toHexString()}:${t.device_id}`),
  );
  await recordChange(deps, {
    type: "message_edited",
    conversation_id: current.conversation_id,
    message_id: d.message_id,
    message: event,
    targets,
    expires_at: current.expires_at,
  });
  await deps.checkpoint?.("edit.announced");
  await endOp(deps, op);
  return current;
}
