import type { z } from "@hono/zod-openapi";
import type { ObjectId } from "mongodb";
import { recordChange } from "../changes/record.js";
import { mineWithMembers, otherOf } from "../conversations/access.js";
import { setLastPreview } from "../conversations/repo.js";
import type { Deps } from "../deps.js";
import { assertMayActIn } from "../relations/policy.js";
import { AppError } from "../shared/errors.js";
import type { Auth } from "../shared/openapi.js";
import { visibleMessage, within } from "./access.js";
import { dropOlderKeys, insertKeys } from "./keys.js";
import { toMessageEvent } from "./present.js";
import { applyEdit, findMessage, nextVersion } from "./repo.js";
import { type EditMessage, LIMITS } from "./schemas.js";
import { checkedKeys, targetsOf } from "./send.js";

/**
 * Replaces a message's ciphertext and its whole key set (sender only, within 15 minutes). The new
 * keys are written under a new version before the message points at it, and the old ones dropped
 * after, so a reader always finds the keys of the content it reads.
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
  const keys = await checkedKeys(deps, auth, conversation, members, body.recipient_keys);
  const reserved = await nextVersion(deps, id);
  if (!reserved) throw new AppError("INVALID_STATE", "The message was deleted");
  const version = reserved.next_version;
  const undo = await insertKeys(deps, message, version, keys, auth.userId, deps.clock.now());
  const preview = body.encrypted_preview ?? null;
  const applied = await applyEdit(deps, id, version, {
    encrypted_content: body.encrypted_content,
    encrypted_preview: preview,
    content_type: body.content_type ?? message.content_type,
  });
  if (!applied) await undo();
  const current = await findMessage(deps, id);
  if (!current || current.deleted) throw new AppError("INVALID_STATE", "The message was deleted");
  if (!applied) return current; // a later edit landed first: it stands
  await dropOlderKeys(deps, id, version);
  await setLastPreview(deps, conversation._id, id, preview);
  await recordChange(deps, {
    type: "message_edited",
    conversation_id: conversation._id,
    message_id: id,
    message: toMessageEvent(current),
    targets: targetsOf(keys, auth, current),
    expires_at: current.expires_at,
  });
  return current;
}
