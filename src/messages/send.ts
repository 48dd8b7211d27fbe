import type { z } from "@hono/zod-openapi";
import type { ObjectId } from "mongodb";
import { claimForMessage, releaseFromMessage } from "../attachments/owners.js";
import { recordChange } from "../changes/record.js";
import { mine } from "../conversations/access.js";
import { countNewMessage } from "../conversations/counters.js";
import { type MemberDoc, membersOf } from "../conversations/members.js";
import { type ConversationDoc, setLastMessage, takeSeq, uncount } from "../conversations/repo.js";
import { newId, parseId } from "../db/ids.js";
import type { Deps } from "../deps.js";
import { maySendIn } from "../relations/policy.js";
import { AppError } from "../shared/errors.js";
import type { Auth } from "../shared/openapi.js";
import { findUser } from "../users/repo.js";
import { claimClientId, claimedMessage } from "./client-ids.js";
import { insertKeys, type WrappedKey } from "./keys.js";
import { toMessageEvent } from "./present.js";
import { checkRecipients } from "./recipients.js";
import { findMessage, insertMessage, isExpired, type MessageDoc } from "./repo.js";
import type { SendMessage } from "./schemas.js";

/** Who may post here: the policy decides (a 1:1 keeps applying the other person's rule). */
async function assertMaySend(
  deps: Deps,
  sender: ObjectId,
  conversation: ConversationDoc,
  members: MemberDoc[],
) {
  const other = members.find((m) => !m.user_id.equals(sender));
  const user = conversation.kind === "one_to_one" && other ? await findUser(deps, other.user_id) : null;
  if (conversation.kind === "one_to_one" && !user) {
    throw new AppError("INVALID_STATE", "The other person deleted their account");
  }
  if (!(await maySendIn(deps, sender, conversation.kind, user))) {
    throw new AppError("FORBIDDEN", "This user does not accept your messages");
  }
}

/** Recipients and their keys, checked against the members' current devices (see recipients.ts). */
export async function checkedKeys(
  deps: Deps,
  auth: Auth,
  conversation: ConversationDoc,
  keys: z.infer<typeof SendMessage>["recipient_keys"],
) {
  const members = await membersOf(deps, conversation._id);
  await assertMaySend(deps, auth.userId, conversation, members);
  return checkRecipients(
    deps,
    auth,
    members.map((m) => m.user_id),
    keys,
  );
}

async function replyTarget(deps: Deps, conversation: ConversationDoc, me: MemberDoc, replyTo: string) {
  const id = parseId(replyTo, "reply_to");
  const target = await findMessage(deps, id);
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
 * Stores a checked message: the next position (with the count, atomically), the recipients'
 * unread counts, the keys, then the message, which makes it visible; a failure on the way undoes
 * what came before it. Then the conversation's last message, and one recorded change.
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
  await countNewMessage(deps, conversation._id, auth.userId, seq);
  let undoKeys: (() => Promise<unknown>) | undefined;
  const owner = {
    message_id: message._id,
    conversation_id: conversation._id,
    message_seq: seq,
    message_expires_at: message.expires_at ?? null,
  };
  try {
    if (attachmentIds.length) await claimForMessage(deps, auth.userId, attachmentIds, owner);
    undoKeys = await insertKeys(deps, message, 0, keys, auth.userId, message.created_at);
    await insertMessage(deps, message);
  } catch (err) {
    if (attachmentIds.length) await releaseFromMessage(deps, message._id);
    await undoKeys?.();
    await countNewMessage(deps, conversation._id, auth.userId, seq, -1);
    await uncount(deps, conversation._id);
    throw err;
  }
  await setLastMessage(deps, conversation._id, {
    message_id: message._id,
    seq,
    encrypted_preview: message.encrypted_preview,
    timestamp: message.created_at,
    sender_id: auth.userId,
    expires_at: message.expires_at,
  });
  await recordChange(deps, {
    type: "new_message",
    conversation_id: conversation._id,
    message_id: message._id,
    message: toMessageEvent(message),
    targets: targetsOf(keys, auth, message),
    expires_at: message.expires_at,
  });
  return message;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const WAIT_TRIES = 100;

/**
 * Sends a message, once per client_message_id: a retry (or a racing duplicate) gets the first
 * message back, marked `replay`, and stores and records nothing.
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
  const first = await earlier();
  if (first) return { message: first, replay: true };

  const { conversation, me } = await mine(
    deps,
    parseId(body.conversation_id, "conversation_id"),
    auth.userId,
  );
  const replyTo = body.reply_to ? await replyTarget(deps, conversation, me, body.reply_to) : null;
  const keys = await checkedKeys(deps, auth, conversation, body.recipient_keys);
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
  // The answer needs no read: a new message has no receipts, and its keys are these.
  const own = keys.find((k) => k.user_id.equals(auth.userId) && k.device_id === auth.deviceId);
  if (!clientId)
    return { message: await store(deps, auth, conversation, doc, keys, attachmentIds), replay: false, own };

  // Whoever claims the id stores the message; the others wait for it and return it.
  for (let i = 0; i < WAIT_TRIES; i++) {
    const release = await claimClientId(deps, auth.userId, clientId, doc._id);
    if (release) {
      try {
        return {
          message: await store(deps, auth, conversation, doc, keys, attachmentIds),
          replay: false,
          own,
        };
      } catch (err) {
        await release();
        throw err;
      }
    }
    const stored = await earlier();
    if (stored) return { message: stored, replay: true };
    await pause(Math.min(10 * (i + 1), 100));
  }
  throw new AppError("INVALID_STATE", "A send with this client_message_id is still in progress; retry");
}
