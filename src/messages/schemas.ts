import { z } from "@hono/zod-openapi";
import { TTL_BOUNDS, TtlSeconds } from "../conversations/schemas.js";
import { DeviceInfo } from "../devices/schemas.js";
import { Timestamp } from "../http/openapi.js";
import { base64 } from "../lib/base64.js";
import { Id } from "../users/schemas.js";

/** Bounds on what one message may carry; every one is in the spec. */
export const LIMITS = {
  /** Decoded ciphertext: text and small payloads; media go as encrypted attachments. */
  contentBytes: 65_536,
  previewBytes: 1_024,
  /** Room for a post-quantum first message (a Kyber ciphertext is 1,568 bytes) around a 32-byte key. */
  wrappedKeyBytes: 2_048,
  /** Every device of a full group: 50 members with 6 devices each (the default device cap). */
  recipientKeys: 300,
  pageSize: 100,
  batchRead: 100,
  ttlMinSeconds: TTL_BOUNDS.min,
  ttlSeconds: TTL_BOUNDS.max,
  /** Encrypted attachments one message may carry (src/attachments). */
  attachments: 10,
  editWindowSeconds: 15 * 60,
  deleteWindowSeconds: 60 * 60,
};

export const ContentType = z
  .enum(["text", "image", "video", "audio", "file", "location", "contact"])
  .openapi("ContentType", { description: "What the ciphertext holds, as the sender labels it" });
export type ContentType = z.infer<typeof ContentType>;

const DeviceId = DeviceInfo.shape.device_id;
export const MessageIdParam = z.object({ message_id: Id.openapi({ param: { in: "path" } }) });

export const RecipientKey = z
  .object({
    user_id: Id,
    device_id: DeviceId,
    encrypted_key: base64(LIMITS.wrappedKeyBytes).openapi({
      description: `The message key wrapped for this device, base64 of at most ${LIMITS.wrappedKeyBytes} bytes`,
    }),
    registration_id: z
      .number()
      .int()
      .min(1)
      .max(16380)
      .optional()
      .openapi({
        description:
          "The device's registration_id from the bundle the sender encrypted for; when the device has " +
          "re-registered since, the send is refused with 410 STALE_DEVICES",
      }),
  })
  .strict()
  .openapi("RecipientKey");

/** One entry per device; a device named twice is a 400 naming the second entry. */
const RecipientKeys = z
  .array(RecipientKey)
  .max(LIMITS.recipientKeys)
  .superRefine((keys, ctx) => {
    const seen = new Set<string>();
    keys.forEach((k, i) => {
      const id = `${k.user_id.toLowerCase()}:${k.device_id}`;
      if (seen.has(id))
        ctx.addIssue({ code: "custom", path: [i, "device_id"], message: "device named twice" });
      seen.add(id);
    });
  })
  .openapi({
    description:
      "Exactly one entry for every current device of every other member and for each of the sender's " +
      "other devices (the sending device may add itself). Anything else is 409 DEVICE_MISMATCH. " +
      `At most ${LIMITS.recipientKeys}. A device (the same \`user_id\`, compared without case, and ` +
      "`device_id`) named twice is a 400 naming `recipient_keys.<i>.device_id`, which JSON Schema cannot say.",
  });

const Content = base64(LIMITS.contentBytes).openapi({
  description: `Opaque ciphertext, base64 of at most ${LIMITS.contentBytes} bytes`,
});
const Preview = base64(LIMITS.previewBytes)
  .nullable()
  .optional()
  .openapi({
    description:
      "Optional short ciphertext (under the same message key) that conversation lists show as " +
      `last_message.encrypted_preview; at most ${LIMITS.previewBytes} bytes`,
  });

export const SendMessage = z
  .object({
    conversation_id: Id,
    encrypted_content: Content,
    content_type: ContentType.default("text"),
    recipient_keys: RecipientKeys,
    reply_to: Id.nullable().optional().openapi({ description: "A message of the same conversation" }),
    is_ephemeral: z.boolean().default(false),
    ttl_seconds: TtlSeconds.nullable()
      .optional()
      .openapi({
        description:
          `The message disappears this many seconds (${TTL_BOUNDS.min} to ${TTL_BOUNDS.max}) after it is ` +
          "sent: left out of every read at once, erased within seconds, every member device told " +
          "(message_expired). Without it, the conversation's timer applies, if it has one.",
      }),
    view_once: z
      .boolean()
      .default(false)
      .openapi({
        description:
          "Recipients get the ciphertext without their wrapped key; each device gets its key once, from " +
          "POST /messages/{message_id}/open. Once every recipient device opened it, or after the server's " +
          "cap, the ciphertext is erased and a tombstone remains.",
      }),
    client_message_id: z
      .string()
      .regex(/^[A-Za-z0-9._:-]{1,64}$/, "must be 1-64 characters of letters, digits, . _ : -")
      .optional()
      .openapi({
        description:
          "The client's own id for this send: a retry with the same id (within 24 h) returns the " +
          "first message instead of storing a second one",
        example: "6c1f0a5e-1b7e-4c55-9d0e-2f1b0c7a9e11",
      }),
    encrypted_preview: Preview,
    attachment_ids: z
      .array(Id)
      .max(LIMITS.attachments)
      .superRefine((ids, ctx) => {
        const seen = new Set<string>();
        ids.forEach((id, i) => {
          if (seen.has(id.toLowerCase())) ctx.addIssue({ code: "custom", path: [i], message: "named twice" });
          seen.add(id.toLowerCase());
        });
      })
      .optional()
      .openapi({
        description:
          "Attachments this message carries (`POST /attachments`): each uploaded by the sender, complete, " +
          "not expired and carried by no other message, else a 400 naming the entry " +
          "(`attachment_ids.<i>`). The message then owns them: they stop expiring, members of the " +
          "conversation may download them, and they are erased with the message. Their ids, keys and " +
          `digests belong inside \`encrypted_content\`. At most ${LIMITS.attachments}, each named once ` +
          "(compared without case).",
        uniqueItems: true,
      }),
  })
  .strict()
  .openapi("SendMessageRequest");

export const EditMessage = z
  .object({
    encrypted_content: Content,
    recipient_keys: RecipientKeys,
    content_type: ContentType.optional(),
    encrypted_preview: Preview,
  })
  .strict()
  .openapi("EditMessageRequest");

export const DeleteMessage = z
  .object({ delete_for_everyone: z.boolean().default(false) })
  .strict()
  .openapi("DeleteMessageRequest");

export const ReadMany = z
  .object({ message_ids: z.array(Id).min(1).max(LIMITS.batchRead) })
  .strict()
  .openapi("ReadMessagesRequest");

export const HistoryQuery = z
  .object({
    limit: z.coerce
      .number<string>()
      .int()
      .min(1)
      .max(LIMITS.pageSize)
      .default(50)
      .openapi({ param: { in: "query" }, description: `Page size, 1-${LIMITS.pageSize}` }),
    before: Id.optional().openapi({
      param: { in: "query" },
      description: "A message id: the page of messages right before it. Not with `after`",
    }),
    after: Id.optional().openapi({
      param: { in: "query" },
      description:
        "A message id: the page of messages right after it. Not with `before` (400 naming `after`)",
    }),
  })
  .refine((q) => !(q.before && q.after), { message: "give before or after, not both", path: ["after"] });

const RecipientKeyBody = z
  .object({ user_id: z.string(), device_id: z.string(), encrypted_key: z.string() })
  .openapi("RecipientKeyEntry");

const MessageMetadata = z
  .object({
    media_url: z
      .string()
      .nullable()
      .openapi({ description: "Always null: media go as encrypted attachments" }),
    reply_to: z.string().nullable(),
    is_ephemeral: z.boolean(),
    ttl_seconds: z.number().int().nullable(),
    view_once: z.boolean(),
    expires_at: Timestamp.nullable().openapi({ description: "When a disappearing message is erased" }),
    opened: z
      .boolean()
      .nullable()
      .openapi({
        description:
          "View-once messages, for a recipient device: whether it has opened it (its key is gone). Null " +
          "for other messages and for the sender",
      }),
  })
  .openapi("MessageMetadata");

const MessageStatus = z
  .object({
    sent_at: Timestamp,
    delivered_to: z.array(
      z
        .object({ user_id: z.string(), device_id: z.string(), timestamp: Timestamp })
        .openapi("DeliveryReceipt"),
    ),
    read_by: z.array(z.object({ user_id: z.string(), timestamp: Timestamp }).openapi("ReadReceipt")),
  })
  .openapi("MessageStatus", { description: "delivered_to and read_by are filled in for the sender only" });

export const MessageBody = z
  .object({
    id: z.string(),
    conversation_id: z.string(),
    seq: z.number().int().openapi({
      description:
        "Position in the conversation: increasing, not dense (a send cut short by a crash, or refused after taking its position, leaves a gap that never fills: a gap is not a lost message; docs/durability.md)",
    }),
    sender_id: z.string().nullable().openapi({ description: "Null when the sender deleted their account" }),
    sender_device_id: z.string().nullable(),
    encrypted_content: z.string().nullable().openapi({ description: "Null once deleted for everyone" }),
    content_type: ContentType,
    recipient_keys: z.array(RecipientKeyBody).openapi({
      description:
        "Only the calling device's own entry (empty when none was wrapped for it or it was deleted)",
    }),
    metadata: MessageMetadata,
    status: MessageStatus,
    created_at: Timestamp,
    edited_at: Timestamp.nullable(),
    is_deleted: z.boolean(),
  })
  .openapi("Message");

export const MessagePage = z
  .object({
    messages: z.array(MessageBody).openapi({ description: "Oldest first" }),
    has_more: z.boolean().openapi({ description: "More messages lie beyond this page in its direction" }),
    total: z.number().int().openapi({ description: "Messages the caller can see in the conversation" }),
  })
  .openapi("MessagePage");

export const Done = z.object({ message: z.string() }).openapi("MessageResult");
export const ReadResult = z
  .object({ message: z.string(), marked_count: z.number().int() })
  .openapi("ReadMessagesResult");

export const OpenedKey = z
  .object({
    message_id: z.string(),
    user_id: z.string(),
    device_id: z.string(),
    encrypted_key: z.string().openapi({ description: "The message key wrapped for the calling device" }),
  })
  .openapi("ViewOnceKey");
