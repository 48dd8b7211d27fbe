import type { z } from "@hono/zod-openapi";
import type { ObjectId } from "mongodb";
import { mineWithMembers, otherOf } from "../conversations/access.js";
import type { MemberDoc } from "../conversations/members.js";
import type { ConversationDoc } from "../conversations/repo.js";
import { newId, parseId } from "../db/ids.js";
import type { Deps } from "../deps.js";
import { AppError } from "../http/errors.js";
import type { Auth } from "../http/openapi.js";
import { early, together } from "../lib/together.js";
import type { HeaderSink } from "../limits/ratelimit.js";
import { assertMayActIn } from "../policy/policy.js";
import { type ClientIdDoc, findSend, newSendDoc, recordSend, sendRecord, takeOver } from "./client-ids.js";
import { messageFor } from "./history.js";
import { toMessageBody } from "./present.js";
import { checkRecipients, guessDevices } from "./recipients.js";
import { findMessage, isExpired, type MessageDoc } from "./repo.js";
import { sendRule } from "./routes.js";
import type { MessageBody, SendMessage } from "./schemas.js";
import { announceSend, finishSend, storeSend } from "./send-steps.js";

type SendBody = z.infer<typeof SendMessage>;

/** What either door answers a send with: the message as the sending device sees it. */
export interface Sent {
  message: z.infer<typeof MessageBody>;
  /** True when the client_message_id was sent before: nothing new was stored. */
  replay: boolean;
}

/**
 * One send, whichever door it came in by (`POST /messages`, the socket's `send_message`): the
 * sender's limit, the message path, the answer. `limitHeaders` is where the limit's count is shown
 * (a REST answer's headers, on failures after the count too); a socket's answer has no headers, so
 * there the count is kept and shown nowhere.
 */
export async function send(deps: Deps, auth: Auth, body: SendBody, limitHeaders?: HeaderSink): Promise<Sent> {
  await deps.limiter.enforce(limitHeaders ?? { header() {} }, sendRule, auth.userId.toHexString());
  const sent = await sendMessage(deps, auth, body);
  if (sent.replay) return { message: await messageFor(deps, auth, sent.message), replay: true };
  // A new message needs no read: it has no receipts yet, and its keys are the ones just given.
  return { message: toMessageBody(sent.message, auth.userId, sent.own), replay: false };
}

/**
 * Sends a message, once per client_message_id: the steps of docs/architecture.md ("The message
 * path") after the limit, one line each. The reads that need no earlier answer (the retry's
 * record, the conversation, a reply's target, the devices the keys name) start at once, so a send
 * waits for one round trip where they would take four; each step awaits its own, in the steps'
 * order, so the errors come in that order whatever finished first (a replay before a 404, the
 * policy before a device mismatch). The decision is recorded before anything is written, and any
 * process can finish a recorded send (send-steps.ts).
 */
export async function sendMessage(deps: Deps, auth: Auth, body: SendBody) {
  const retry = early(findSend(deps, auth.userId, body.client_message_id));
  const membership = early(membershipOf(deps, auth, body));
  const devices = guessDevices(deps, auth.userId, body.recipient_keys);

  const earlier = await retry; // 2. a retry returns the first send's message
  if (earlier) return await replay(deps, earlier);
  const { conversation, members, replyTo } = await membership; // 3. a member, else 404
  const decided = decide(deps, auth, body, conversation, replyTo);
  const other = otherOf(deps, conversation.kind, members, auth.userId);
  const memberIds = members.map((m) => m.user_id);
  const [, keys] = await together(
    assertMayActIn(deps, auth.userId, conversation.kind, other), // 4. the policy
    checkRecipients(deps, auth, memberIds, body.recipient_keys, devices), // 5. the device list
  );
  const record = newSendDoc(deps, auth.userId, body.client_message_id, { ...decided, keys, seq: null });
  const first = await recordOrFindFirst(deps, record); // 6. the record, unless a racing duplicate has one
  if (first) return await replay(deps, first);
  const message = await storeSend(deps, record, false); // 7. the store
  await announceSend(deps, record, message, false); // 8. the announcement

  const own = keys.find((k) => k.user_id.equals(auth.userId) && k.device_id === auth.deviceId);
  return { message, replay: false as const, own };
}

/** Step 3: the conversation with every member, the caller among them, and the message a reply names. */
async function membershipOf(deps: Deps, auth: Auth, body: SendBody) {
  const conversationId = parseId(body.conversation_id, "conversation_id");
  // The reply's target is read alongside; it is judged after the conversation's own 404.
  const [found, reply] = await together(
    mineWithMembers(deps, conversationId, auth.userId),
    replyRead(deps, body.reply_to),
  );
  return { ...found, replyTo: replyTarget(found.conversation, found.me, reply) };
}

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

/** The message as it will be stored (less its position) and the attachments it hands over. */
function decide(
  deps: Deps,
  auth: Auth,
  body: SendBody,
  conversation: ConversationDoc,
  replyTo: ObjectId | null,
) {
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
  return { message, attachment_ids: attachmentIds };
}

/**
 * Step 6: whoever records the client_message_id sends the message (null: this send did); a racing
 * duplicate gets the record of the send that did, to return its message.
 */
async function recordOrFindFirst(deps: Deps, record: ClientIdDoc): Promise<ClientIdDoc | null> {
  for (let i = 0; ; i++) {
    if (await recordSend(deps, record)) {
      await deps.checkpoint?.("send.recorded");
      return null;
    }
    const other = await sendRecord(deps, record._id);
    if (other) return other;
    // Gone meanwhile: the other send was refused (its attachments) and gave the id back.
    if (i === 3) throw new AppError("INVALID_STATE", "A send with this client_message_id is in flux; retry");
  }
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const WAIT_TRIES = 100;

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
