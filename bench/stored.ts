import { randomBytes } from "node:crypto";
import { ObjectId } from "mongodb";
import type { MessageKeyDoc } from "../src/messages/keys.js";
import type { MessageDoc } from "../src/messages/repo.js";

/** Random bytes as base64: ciphertext and wrapped keys the server never opens. */
export const b64 = (n: number) => randomBytes(n).toString("base64");

/** Where stored messages go and who reads them: one key each, for the reader's one device. */
export interface History {
  conversation: ObjectId;
  sender: ObjectId;
  senderDevice: string;
  reader: ObjectId;
  readerDevice: string;
}

/**
 * Messages `from`..`to` (positions) as Hush stores them, each with the reader's wrapped key: what
 * the benches write straight to the store, past the send limit. `extra` sets fields of every
 * message (an expiry, say).
 */
export function storedMessages(h: History, from: number, to: number, extra: Partial<MessageDoc> = {}) {
  const docs: MessageDoc[] = [];
  const keys: MessageKeyDoc[] = [];
  const now = new Date();
  for (let seq = from; seq <= to; seq++) {
    const _id = new ObjectId();
    docs.push({
      _id,
      conversation_id: h.conversation,
      seq,
      sender_id: h.sender,
      sender_device_id: h.senderDevice,
      encrypted_content: b64(200),
      encrypted_preview: null,
      content_type: "text",
      reply_to: null,
      is_ephemeral: false,
      ttl_seconds: null,
      view_once: false,
      version: 0,
      next_version: 0,
      created_at: now,
      edited_at: null,
      deleted: false,
      deleted_at: null,
      expires_at: null,
      ...extra,
    });
    keys.push({
      _id: new ObjectId(),
      message_id: _id,
      conversation_id: h.conversation,
      seq,
      version: 0,
      user_id: h.reader,
      device_id: h.readerDevice,
      encrypted_key: b64(92),
      registration_id: null,
      expires_at: null,
    });
  }
  return { docs, keys };
}
