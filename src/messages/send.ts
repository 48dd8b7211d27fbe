import type { z } from "@hono/zod-openapi";
import type { ObjectId } from "mongodb";
import { mineWithMembers } from "../conversations/access.js";
import type { MemberDoc } from "../conversations/members.js";
import type { ConversationDoc } from "../conversations/repo.js";
import { newId, parseId } from "../db/ids.js";
import type { Deps } from "../deps.js";
import { AppError } from "../http/errors.js";
import type { Auth } from "../http/openapi.js";
import { maySendIn } from "../policy/policy.js";
import { findUser } from "../users/repo.js";
import { type ClientIdDoc, findSend, newSendDoc, recordSend, sendRecord, takeOver } from "./client-ids.js";
import { checkRecipients, type DeviceGuess, guessDevices } from "./recipients.js";
import { findMessage, isExpired, type MessageDoc } from "./repo.js";
import type { SendMessage } from "./schemas.js";
import { finishSend } from "./send-steps.js";

/**
 * Who may post here and to which devices, in one round trip: the other person's account (a 1:1
 * keeps applying their rule: src/policy/policy.ts), the block check and the members' devices
 * are read at once. The policy's refusal comes first, as when they were read in turn.
 */
export async function checkedKeys(
  deps: Deps,
  auth: Auth,
  conversation: ConversationDoc,
  members: MemberDoc[],
  keys: z.infer<typeof SendMessage>["recipient_keys"],
  guess?: DeviceGuess,
) {
  const other =
    conversation.kind === "one_to_one" ? members.find((m) => !m.user_id.equals(auth.userId)) : null;
  const [may, checked] = await Promise.allSettled([
    maySendIn(
      deps,
      auth.userId,
      conversation.kind,
      other ? { id: other.user_id, account: findUser(deps, other.user_id) } : null,
    ),
    checkRecipients(
      deps,
      auth,
      members.map((m) => m.user_id),
      keys,
      guess,
    ),
  ]);
  const verdict = settled(may);
  if (verdict === "gone") throw new AppError("INVALID_STATE", "The other person deleted their account");
  if (verdict === "no") throw new AppError("FORBIDDEN", "This user does not accept your messages");
  return settled(checked);
}

/** A settled promise's value, or its error thrown. */
const settled = <T>(r: PromiseSettledResult<T>): T => {
  if (r.status === "rejected") throw r.reason;
  return r.value;
};

/** The message `reply_to` names, read while the conversation is; judged once it is known. */
async function replyRead(deps: Deps, replyTo: string | null | undefined) {
  if (!replyTo) return null;
  const id = parseId(replyTo, "reply_to");
  return { id, target: await findMessage(deps, id) };
}

function replyTarget(
  conversation: ConversationDoc,
  me: MemberDoc,
  read: { id: ObjectId; target: MessageDoc | null } | null,
) {
  if (!read) return null;
  const { id, target } = read;
  if (!target?.conversation_id.equals(conversation._id) || target.seq <= me.joined_seq) {
    throw new AppError("VALIDATION_ERROR", "reply_to is not a message of this conversation", {
      reply_to: "not a message of this conversation",
    });
  }
  return id;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const WAIT_TRIES = 100;

/**
 * Sends a message, once per client_message_id. What the send decided is recorded before anything
 * is written (recordSend: the claim of the id and the whole decision in one insert), then written
 * step by step (finishSend, src/messages/send-steps.ts); any process can finish a recorded send.
 * A retry with the same id returns the first message, marked `replay`, and first finishes whatever
 * the first try left undone (after the first try's lease has passed, when it died). The caller
 * applies the send limit first, alone, so that a sender past it costs the store the limiter's two
 * `_id` commands and nothing more.
 *
 * What a send waits for, in turn: (1) the client_message_id's record, the conversation with its
 * members, a reply's target and the devices of the users the keys name (guessDevices), all at
 * once; (2) the policy and the members' devices (unless the guess covered them), at once; (3) the
 * record; (4) the writes.
 */
export async function sendMessage(deps: Deps, auth: Auth, body: z.infer<typeof SendMessage>) {
  const clientId = body.client_message_id;
  const context = async () => {
    const conversationId = parseId(body.conversation_id, "conversation_id");
    const reply = replyRead(deps, body.reply_to);
    reply.catch(() => {}); // judged below, after the conversation's own 404
    const found = await mineWithMembers(deps, conversationId, auth.userId);
    return { ...found, replyTo: replyTarget(found.conversation, found.me, await reply) };
  };
  const guess = guessDevices(deps, auth.userId, body.recipient_keys);
  // Settled in the order they were once awaited in turn: a replay, then the conversation.
  const [first, found] = await Promise.allSettled([
    clientId ? findSend(deps, auth.userId, clientId) : null,
    context(),
  ]);
  const earlier = settled(first);
  if (earlier) return await replay(deps, earlier);
  const { conversation, members, replyTo } = settled(found);

  const attachmentIds = (body.attachment_ids ?? []).map((id, i) => parseId(id, `attachment_ids.${i}`));
  const now = deps.clock.now();
  // The message's own timer, else the conversation's; the clock starts at the send.
  const ttl = body.ttl_seconds ?? conversation.ttl_seconds ?? null;
  const after = (seconds: number) => new Date(now.getTime() + seconds * 1000);
  const message = {
    _id: newId(),
    conversation_id: conversation._id,
    sender_id: auth.userId,
    sender_device_id: auth.deviceId,
    encrypted_content: body.encrypted_content,
    encrypted_preview: body.encrypted_preview ?? null,
    content_type: body.content_type,
    reply_to: replyTo,
    is_ephemeral: body.is_ephemeral || ttl !== null,
    ttl_seconds: ttl,
    view_once: body.view_once,
    expires_at: ttl === null ? null : after(ttl),
    ...(body.view_once ? { view_once_until: after(deps.config.VIEW_ONCE_CAP_SECONDS) } : {}),
    version: 0,
    next_version: 0,
    created_at: now,
    edited_at: null,
    deleted: false,
    deleted_at: null,
  };
  const keys = await checkedKeys(deps, auth, conversation, members, body.recipient_keys, guess);
  // The answer needs no read: a new message has no receipts, and its keys are these.
  const own = keys.find((k) => k.user_id.equals(auth.userId) && k.device_id === auth.deviceId);
  const record = newSendDoc(deps, auth.userId, clientId, {
    message,
    keys,
    attachment_ids: attachmentIds,
    seq: null,
  });
  // Whoever records the id sends the message; a racing duplicate returns it (finishing it if need be).
  for (let i = 0; ; i++) {
    if (await recordSend(deps, record)) {
      await deps.checkpoint?.("send.recorded");
      return { message: await finishSend(deps, record, false), replay: false, own };
    }
    const other = await sendRecord(deps, record._id);
    // Gone meanwhile: the other send was refused (its attachments) and gave the id back.
    if (other) return await replay(deps, other);
    if (i === 3) throw new AppError("INVALID_STATE", "A send with this client_message_id is in flux; retry");
  }
}

/**
 * The message an earlier send with this client_message_id produced. A send still under way is
 * waited for while its holder's lease lasts, and finished here once it has passed (the holder died
 * or stalls): what it decided is all in its record.
 */
async function replay(deps: Deps, first: ClientIdDoc): Promise<{ message: MessageDoc; replay: true }> {
  let record: ClientIdDoc | null = first;
  for (let i = 0; record?.op; i++) {
    const taken = await takeOver(deps, record);
    if (taken) return { message: await finishSend(deps, taken, true), replay: true };
    if (i === WAIT_TRIES) {
      throw new AppError("INVALID_STATE", "A send with this client_message_id is still in progress; retry");
    }
    await pause(Math.min(10 * (i + 1), 100));
    record = await sendRecord(deps, first._id);
  }
  const found = record ? await findMessage(deps, record.message_id) : null;
  if (!found)
    throw new AppError("INVALID_STATE", "The send with this client_message_id was refused; send again");
  // A replay answers with the message: not once it has expired (nothing expired is read).
  if (isExpired(found, deps.clock.now())) {
    throw new AppError("INVALID_STATE", "The message sent with this client_message_id has expired");
  }
  return { message: found, replay: true };
}
