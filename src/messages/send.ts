import type { z } from "@hono/zod-openapi";
import type { ObjectId } from "mongodb";
import { claimForMessage, releaseFromMessage } from "../attachments/owners.js";
import { recordChange } from "../changes/record.js";
import { mineWithMembers } from "../conversations/access.js";
import { countNewMessage } from "../conversations/counters.js";
import type { MemberDoc } from "../conversations/members.js";
import { type ConversationDoc, setLastMessage, takeSeq, uncount } from "../conversations/repo.js";
import { newId, parseId } from "../db/ids.js";
import type { Deps } from "../deps.js";
import { maySendIn } from "../relations/policy.js";
import { AppError } from "../shared/errors.js";
import type { Auth } from "../shared/openapi.js";
import { findUser } from "../users/repo.js";
import { claimClientId, claimedMessage } from "./client-ids.js";
import { dropKeySet, insertKeys, type WrappedKey } from "./keys.js";
import { toMessageEvent } from "./present.js";
import { checkRecipients, type DeviceGuess, guessDevices } from "./recipients.js";
import { findMessage, insertMessage, isExpired, type MessageDoc } from "./repo.js";
import type { SendMessage } from "./schemas.js";

/**
 * Who may post here and to which devices, in one round trip: the other person's account (a 1:1
 * keeps applying their rule: src/relations/policy.ts), the block check and the members' devices
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

/**
 * Every device a change goes to, with its own key: all the keys but the sending device's. A
 * view-once message's recipients get none: their key comes only from POST /messages/{id}/open.
 */
export const targetsOf = (keys: WrappedKey[], auth: Auth, m: Pick<MessageDoc, "view_once">) =>
  keys
    .filter((k) => !(k.user_id.equals(auth.userId) && k.device_id === auth.deviceId))
    .map((k) => ({
      user_id: k.user_id,
      device_id: k.device_id,
      encrypted_key: withheld(m, k.user_id, auth.userId) ? null : k.encrypted_key,
    }));

/** A view-once message's key is withheld from everyone but the sender's own devices. */
export const withheld = (m: Pick<MessageDoc, "view_once">, keyOwner: ObjectId, sender: ObjectId | null) =>
  m.view_once && !sender?.equals(keyOwner);

/**
 * Stores a checked message: the next position (with the count, atomically); then, at once, the
 * members' unread counts, the attachments and the keys, which must all be in place before the
 * message is, since the message is what makes the send visible (a read of it finds its unread
 * counted and its keys there); a failure among them undoes them all before the message exists,
 * so the send can be retried. Then the message. Then, at once, the conversation's last message and
 * the recorded change: neither needs the other, and both come after the message, so a device that
 * hears of it can read it.
 */
async function store(
  deps: Deps,
  auth: Auth,
  conversation: ConversationDoc,
  doc: Omit<MessageDoc, "seq">,
  keys: WrappedKey[],
  attachmentIds: ObjectId[],
) {
  const seq = await takeSeq(deps, conversation._id);
  if (seq === null) throw new AppError("NOT_FOUND", "Conversation not found");
  const message: MessageDoc = { ...doc, seq };
  const owner = {
    message_id: message._id,
    conversation_id: conversation._id,
    message_seq: seq,
    message_expires_at: message.expires_at ?? null,
  };
  const steps = await Promise.allSettled([
    countNewMessage(deps, conversation._id, auth.userId, seq),
    attachmentIds.length ? claimForMessage(deps, auth.userId, attachmentIds, owner) : null,
    insertKeys(deps, message, 0, keys, auth.userId, message.created_at),
  ]);
  const undo = async (counted: boolean) => {
    if (attachmentIds.length) await releaseFromMessage(deps, message._id);
    await dropKeySet(deps, message._id, 0);
    if (counted) await countNewMessage(deps, conversation._id, auth.userId, seq, -1);
    await uncount(deps, conversation._id);
  };
  const failed = steps.find((r) => r.status === "rejected");
  if (failed) {
    // An unread count that failed half way cannot be told from one not made: it is left as is.
    await undo(steps[0].status === "fulfilled");
    throw failed.reason;
  }
  try {
    await insertMessage(deps, message);
  } catch (err) {
    await undo(true);
    throw err;
  }
  await Promise.all([
    setLastMessage(deps, conversation._id, {
      message_id: message._id,
      seq,
      encrypted_preview: message.encrypted_preview,
      timestamp: message.created_at,
      sender_id: auth.userId,
      expires_at: message.expires_at,
    }),
    recordChange(deps, {
      type: "new_message",
      conversation_id: conversation._id,
      message_id: message._id,
      message: toMessageEvent(message),
      targets: targetsOf(keys, auth, message),
      expires_at: message.expires_at,
    }),
  ]);
  return message;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const WAIT_TRIES = 100;

/**
 * Sends a message, once per client_message_id: a retry (or a racing duplicate) gets the first
 * message back, marked `replay`, and stores and records nothing. The caller applies the send limit
 * first, alone, so that a sender past its limit costs the store the limiter's two `_id` commands
 * and nothing more.
 *
 * What a send waits for, in turn: (1) the client_message_id's earlier message, the
 * conversation with its members, a reply's target and the devices of the users the keys name
 * (guessDevices), all at once; (2) the policy, the members' devices (unless the guess covered
 * them) and the client_message_id's claim, at once; (3) the writes (see `store`). A claim made
 * for a send that (2) then refuses is given back before the refusal is answered, so that the
 * client's retry with the same id (after a DEVICE_MISMATCH, say) is not kept waiting.
 */
export async function sendMessage(deps: Deps, auth: Auth, body: z.infer<typeof SendMessage>) {
  const clientId = body.client_message_id;
  const earlier = async () => {
    const id = clientId && (await claimedMessage(deps, auth.userId, clientId));
    const found = id ? await findMessage(deps, id) : null;
    // A replay answers with the message: not once it has expired (nothing expired is read).
    if (found && isExpired(found, deps.clock.now())) {
      throw new AppError("INVALID_STATE", "The message sent with this client_message_id has expired");
    }
    return found;
  };
  const context = async () => {
    const conversationId = parseId(body.conversation_id, "conversation_id");
    const reply = replyRead(deps, body.reply_to);
    reply.catch(() => {}); // judged below, after the conversation's own 404
    const found = await mineWithMembers(deps, conversationId, auth.userId);
    return { ...found, replyTo: replyTarget(found.conversation, found.me, await reply) };
  };
  const guess = guessDevices(deps, auth.userId, body.recipient_keys);
  // Settled in the order they were once awaited in turn: a replay, then the conversation.
  const [first, found] = await Promise.allSettled([earlier(), context()]);
  if (settled(first)) return { message: settled(first)!, replay: true };
  const { conversation, members, replyTo } = settled(found);

  const attachmentIds = (body.attachment_ids ?? []).map((id, i) => parseId(id, `attachment_ids.${i}`));
  const now = deps.clock.now();
  // The message's own timer, else the conversation's; the clock starts at the send.
  const ttl = body.ttl_seconds ?? conversation.ttl_seconds ?? null;
  const after = (seconds: number) => new Date(now.getTime() + seconds * 1000);
  const doc = {
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

  // Whoever claims the id stores the message; the others wait for it and return it.
  const claim = () => (clientId ? claimClientId(deps, auth.userId, clientId, doc._id) : null);
  const [checked, claimed] = await Promise.allSettled([
    checkedKeys(deps, auth, conversation, members, body.recipient_keys, guess),
    claim(),
  ]);
  let release = settled(claimed);
  if (checked.status === "rejected") {
    await release?.();
    throw checked.reason;
  }
  const keys = checked.value;
  // The answer needs no read: a new message has no receipts, and its keys are these.
  const own = keys.find((k) => k.user_id.equals(auth.userId) && k.device_id === auth.deviceId);
  if (!clientId)
    return { message: await store(deps, auth, conversation, doc, keys, attachmentIds), replay: false, own };

  for (let i = 0; !release; i++) {
    const stored = await earlier();
    if (stored) return { message: stored, replay: true };
    if (i === WAIT_TRIES) {
      throw new AppError("INVALID_STATE", "A send with this client_message_id is still in progress; retry");
    }
    await pause(Math.min(10 * (i + 1), 100));
    release = await claim();
  }
  try {
    return { message: await store(deps, auth, conversation, doc, keys, attachmentIds), replay: false, own };
  } catch (err) {
    await release();
    throw err;
  }
}
