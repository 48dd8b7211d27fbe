import type { z } from "@hono/zod-openapi";
import type { ObjectId } from "mongodb";
import type { MessageEvent } from "../delivery/deliver.js";
import type { Auth } from "../http/openapi.js";
import { iso } from "../lib/clock.js";
import type { MessageKeyDoc, WrappedKey } from "./keys.js";
import type { ReceiptDoc } from "./receipts.js";
import type { MessageDoc } from "./repo.js";
import type { MessageBody } from "./schemas.js";

const hex = (id: ObjectId | null) => id?.toHexString() ?? null;

/** The message as any device of any member sees it, without keys or receipts. */
export function toMessageEvent(m: MessageDoc): MessageEvent {
  return {
    id: m._id.toHexString(),
    conversation_id: m.conversation_id.toHexString(),
    seq: m.seq,
    sender_id: hex(m.sender_id),
    sender_device_id: m.sender_device_id,
    encrypted_content: m.encrypted_content,
    content_type: m.content_type,
    metadata: {
      media_url: null,
      reply_to: hex(m.reply_to),
      is_ephemeral: m.is_ephemeral,
      ttl_seconds: m.ttl_seconds,
      view_once: m.view_once,
      expires_at: m.expires_at ? iso(m.expires_at) : null,
      opened: m.view_once ? false : null,
    },
    created_at: iso(m.created_at),
    edited_at: m.edited_at && iso(m.edited_at),
    is_deleted: m.deleted,
  };
}

/**
 * The message as one device sees it: its own wrapped key only, and the receipts only when the
 * viewer sent it (who read what is the sender's business).
 */
export function toMessageBody(
  m: MessageDoc,
  viewer: ObjectId,
  key: Pick<MessageKeyDoc, "user_id" | "device_id" | "encrypted_key"> | undefined,
  receipts: ReceiptDoc[] = [],
): z.infer<typeof MessageBody> {
  const own = m.sender_id?.equals(viewer) ?? false;
  const mine = own ? receipts : [];
  const event = toMessageEvent(m);
  // A view-once key is never in a read; its presence only says the device has not opened it yet.
  const viewOnce = m.view_once && !own;
  return {
    ...event,
    metadata: { ...event.metadata, opened: viewOnce ? !key : null },
    content_type: m.content_type,
    recipient_keys:
      key && !m.deleted && !viewOnce
        ? [{ user_id: key.user_id.toHexString(), device_id: key.device_id, encrypted_key: key.encrypted_key }]
        : [],
    status: {
      sent_at: iso(m.created_at),
      delivered_to: mine
        .filter((r) => r.kind === "delivered")
        .map((r) => ({
          user_id: r.user_id.toHexString(),
          device_id: r.device_id ?? "",
          timestamp: iso(r.at),
        })),
      read_by: mine
        .filter((r) => r.kind === "read")
        .map((r) => ({ user_id: r.user_id.toHexString(), timestamp: iso(r.at) })),
    },
  };
}

/**
 * Every device a change goes to, with its own key: all the keys but the sending device's. A
 * view-once message's recipients get none: their key comes only from POST /messages/{id}/open.
 */
export const targetsOf = (
  keys: WrappedKey[],
  auth: Pick<Auth, "userId" | "deviceId">,
  m: Pick<MessageDoc, "view_once">,
) =>
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
