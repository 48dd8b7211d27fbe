import { claimForMessage, releaseFromMessage } from "../attachments/owners.js";
import { countNewMessage, settleCount } from "../conversations/counters.js";
import { setLastMessage, settleSeq, takeSeqOnce } from "../conversations/repo.js";
import { recordChange } from "../delivery/deliver.js";
import { devicesNamed } from "../delivery/repo.js";
import type { Deps } from "../deps.js";
import { AppError } from "../http/errors.js";
import { together } from "../lib/together.js";
import { type ClientIdDoc, completeRecord, dropRecord, recordSeq, releaseLease } from "./client-ids.js";
import { dropKeySet, insertKeys } from "./keys.js";
import { targetsOf, toMessageEvent } from "./present.js";
import { insertMessage, type MessageDoc } from "./repo.js";

/**
 * The steps of a recorded send, in order. Each can be run again by whoever finishes the send (a
 * retry or the recovery sweep, on any process) and does nothing twice: the crash tests
 * (test/integration/crash-send.test.ts) kill a server after each one, by these names.
 */
export const SEND_STEPS = [
  "send.recorded", // the decision is in client_message_ids (recordSend)
  "send.seq-taken", // the conversation has counted the message and given it a position...
  "send.seq", // ...which the record now holds
  "send.written", // unread counts, attachments and wrapped keys are in place
  "send.stored", // the message is in history
  "send.announced", // last_message and the new_message change: every target device's stream has it
] as const;

/**
 * Writes a recorded send to the end and returns the message: its store, then its announcement (a
 * send calls the two in turn; a retry or the recovery sweep finishing a send calls this). Nothing
 * is visible before the message is stored, and it is stored after everything it needs (a read of
 * it finds its unread counted and its keys there); the change is recorded after it, so a device
 * that hears of it can read it. The counts carry the message's marker, so running them again
 * counts nothing twice. `resumed`: an earlier try may have announced it already; devices whose
 * stream has it are left out.
 */
export async function finishSend(deps: Deps, record: ClientIdDoc, resumed: boolean): Promise<MessageDoc> {
  const message = await storeSend(deps, record, resumed);
  await announceSend(deps, record, message, resumed);
  return message;
}

/** The store: the message's position, its counts, attachments and keys, then the message itself. */
export const storeSend = (deps: Deps, record: ClientIdDoc, resumed: boolean) =>
  failing(deps, record, resumed, () => store(deps, record));

/** The announcement: last_message and the new_message change, then the markers and the record settled. */
export const announceSend = (deps: Deps, record: ClientIdDoc, message: MessageDoc, resumed: boolean) =>
  failing(deps, record, resumed, () => announce(deps, record, message, resumed));

/**
 * A refusal (attachments that are not the sender's to send, a conversation erased meanwhile)
 * undoes what was counted and frees the client_message_id. Any other failure (the store's) leaves
 * the send recorded: the first try gives its lease back so that the client's retry finishes it at
 * once; a resumed try keeps it, so that the sweep comes back to a failing send only once it passes.
 */
async function failing<T>(deps: Deps, record: ClientIdDoc, resumed: boolean, step: () => Promise<T>) {
  try {
    return await step();
  } catch (err) {
    if (err instanceof AppError && (err.code === "VALIDATION_ERROR" || err.code === "NOT_FOUND"))
      await refuse(deps, record);
    else if (!resumed) await releaseLease(deps, record).catch(() => {});
    throw err;
  }
}

async function store(deps: Deps, record: ClientIdDoc): Promise<MessageDoc> {
  const op = record.op!;
  const { conversation_id: conversationId, _id: messageId, sender_id: sender } = op.message;
  let seq = op.seq;
  if (seq === null) {
    seq = await takeSeqOnce(deps, conversationId, messageId);
    if (seq === null) throw new AppError("NOT_FOUND", "Conversation not found");
    await deps.checkpoint?.("send.seq-taken");
    await recordSeq(deps, record._id, seq);
    op.seq = seq; // what a refusal further on must undo
  }
  await deps.checkpoint?.("send.seq");
  const message: MessageDoc = { ...op.message, seq };
  const owner = {
    message_id: messageId,
    conversation_id: conversationId,
    message_seq: seq,
    message_expires_at: message.expires_at ?? null,
  };
  const ids = op.attachment_ids;
  await together(
    countNewMessage(deps, conversationId, sender!, seq, messageId),
    ids.length ? claimForMessage(deps, sender!, ids, owner) : null,
    insertKeys(deps, message, 0, op.keys, sender!, message.created_at),
  );
  await deps.checkpoint?.("send.written");
  await insertMessage(deps, message);
  await deps.checkpoint?.("send.stored");
  return message;
}

async function announce(deps: Deps, record: ClientIdDoc, message: MessageDoc, resumed: boolean) {
  const op = record.op!;
  const { conversation_id: conversationId, _id: messageId, sender_id: sender, seq } = message;
  const auth = { userId: sender!, deviceId: message.sender_device_id! };
  let targets = targetsOf(op.keys, auth, message);
  if (resumed) {
    const told = await devicesNamed(deps, messageId.toHexString(), "new_message");
    targets = targets.filter((t) => !told.has(`${t.user_id.toHexString()}:${t.device_id}`));
  }
  await together(
    setLastMessage(deps, conversationId, {
      message_id: messageId,
      seq,
      encrypted_preview: message.encrypted_preview,
      timestamp: message.created_at,
      sender_id: sender,
      expires_at: message.expires_at,
    }),
    recordChange(deps, {
      type: "new_message",
      conversation_id: conversationId,
      message_id: messageId,
      message: toMessageEvent(message),
      targets,
      expires_at: message.expires_at,
    }),
  );
  await deps.checkpoint?.("send.announced");
  await together(
    settleCount(deps, conversationId, sender!, seq, messageId),
    settleSeq(deps, conversationId, messageId),
  );
  await completeRecord(deps, record);
}

/** A refused send leaves nothing behind: its counts, keys and attachments go, then its record. */
async function refuse(deps: Deps, record: ClientIdDoc) {
  const { conversation_id: conversationId, _id: messageId, sender_id: sender } = record.op!.message;
  // Without a recorded position, every member who could have been counted is looked at.
  const seq = record.op!.seq ?? Number.MAX_SAFE_INTEGER;
  await together(
    settleCount(deps, conversationId, sender!, seq, messageId, true),
    settleSeq(deps, conversationId, messageId, true),
    dropKeySet(deps, messageId, 0),
    releaseFromMessage(deps, messageId),
  );
  await dropRecord(deps, record);
}
