import { z } from "@hono/zod-openapi";
import { KeyType } from "../devices/schemas.js";
import { Timestamp } from "../http/openapi.js";

/*
 * What a device's stream can hold: one schema for each entry type's `data`. An entry reaches the
 * device as `{type, position, data}`, live over the socket or in a sync page, the same either way.
 */

const HexId = z.string().regex(/^[0-9a-f]{24}$/, "must be a 24-character hex id");
const Position = z.number().int().min(1).describe("The entry's place in this device's stream");

/**
 * A message as every member's device sees it (the REST Message body without receipts), with the
 * receiving device's own wrapped key only.
 */
export const MessageEventBody = z
  .object({
    id: HexId,
    conversation_id: HexId,
    seq: z.number().int().describe("Position in the conversation"),
    sender_id: HexId.nullable().describe("Null when the sender deleted their account"),
    sender_device_id: z.string().nullable(),
    encrypted_content: z.string().nullable().describe("Opaque ciphertext; null once deleted for everyone"),
    content_type: z.string().describe("What the ciphertext holds, as the sender labels it"),
    metadata: z
      .object({
        media_url: z.string().nullable(),
        reply_to: z.string().nullable(),
        is_ephemeral: z.boolean(),
        ttl_seconds: z.number().int().nullable(),
        view_once: z.boolean(),
        expires_at: Timestamp.nullable().describe("When the message disappears; null when it does not"),
        opened: z.boolean().nullable().describe("View-once: whether this device has opened it; else null"),
      })
      .openapi("MessageEventMetadata"),
    created_at: Timestamp,
    edited_at: Timestamp.nullable(),
    is_deleted: z.boolean(),
    recipient_keys: z
      .array(
        z
          .object({ user_id: z.string(), device_id: z.string(), encrypted_key: z.string() })
          .openapi("MessageEventKey"),
      )
      .describe("This device's own wrapped key, or empty when none was wrapped for it"),
  })
  .openapi("MessageEvent");
export type MessageEventBody = z.infer<typeof MessageEventBody>;

export const ConversationChange = z
  .enum([
    "created",
    "renamed",
    "member_added",
    "member_removed",
    "member_left",
    "admin_added",
    "admin_removed",
    "archived",
    "deleted",
    "timer_changed",
  ])
  .openapi("ConversationChange");

export const entryData = {
  new_message: z
    .object({ message: MessageEventBody })
    .describe("A message in one of the user's conversations (HABIBTI's new_message)")
    .openapi("NewMessage"),
  message_edited: z
    .object({ message: MessageEventBody })
    .describe("A message was edited: its new ciphertext, with this device's new wrapped key")
    .openapi("MessageEdited"),
  message_deleted: z
    .object({ message_id: HexId, conversation_id: HexId, deleted_for_everyone: z.boolean() })
    .describe(
      "Deleted for everyone by its sender, or for this user (from another of their devices). " +
        "An earlier copy of a message deleted for everyone is already `erased` in the stream.",
    )
    .openapi("MessageDeleted"),
  message_status_update: z
    .object({
      message_id: HexId,
      conversation_id: HexId,
      status: z.enum(["delivered", "read"]).openapi("ReceiptStatus"),
      user_id: HexId.describe("Who read it, or whose device it reached"),
      device_id: z.string().nullable().describe("The device it reached (delivered only)"),
      timestamp: Timestamp,
    })
    .describe("A receipt: to the sender, and to the reader's other devices for their own reads")
    .openapi("MessageStatusUpdate"),
  message_viewed: z
    .object({
      message_id: HexId,
      conversation_id: HexId,
      user_id: HexId,
      device_id: z.string(),
      timestamp: Timestamp,
    })
    .describe("A recipient device opened this user's view-once message (unless its read receipts are off)")
    .openapi("MessageViewed"),
  message_expired: z
    .object({ message_id: HexId, conversation_id: HexId })
    .describe(
      "A disappearing message passed its expiry and was erased; earlier copies in the stream are `erased` already.",
    )
    .openapi("MessageExpired"),
  conversation_updated: z
    .object({
      conversation_id: HexId,
      reason: ConversationChange,
      user_id: HexId.nullable().describe("The member a membership change is about"),
    })
    .describe("Members, admins, name or archive state changed; refetch the conversation")
    .openapi("ConversationUpdated"),
  contacts_updated: z
    .object({
      user_id: HexId.describe("The other user of the contact entry that changed"),
      status: z
        .enum(["requested", "incoming", "accepted", "removed"])
        .describe("The entry as this user now sees it; `removed` when it is gone")
        .openapi("ContactChange"),
      display_name: z.string().nullable().describe("The name this user gave them"),
    })
    .openapi("ContactsUpdated"),
  identity_changed: z
    .object({
      user_id: HexId,
      device_id: z.string(),
      identity_key: z.string().describe("The device's new public identity key (base64)"),
      key_type: KeyType,
    })
    .describe(
      "A device of a contact (or of this account) now has a different identity key: the safety " +
        "number changed and the client should say so before encrypting to it again.",
    )
    .openapi("IdentityChanged"),
  devices_changed: z
    .object({
      user_id: HexId.describe("The account whose device list changed"),
      reason: z
        .enum(["device_linked", "account_key_changed"])
        .describe(
          "`device_linked`: a linked device approved a new one (`device`); `account_key_changed`: the account " +
            "key was reset (every device unlinked, `device` the one the new key links): a safety-number change",
        )
        .openapi("DevicesChangedReason"),
      account_key: z.string().describe("The account key (base64 Ed25519) that signed `device`"),
      device: z
        .object({
          device_id: z.string(),
          key_type: KeyType,
          identity_key: z.string(),
          account_signature: z.string().describe("The account key's signature linking it (base64)"),
        })
        .openapi("LinkedDevice"),
    })
    .describe(
      "An account's device list changed: refetch it, checking every device's signature against the pinned " +
        "account key (to the account's own devices, its contacts and everyone sharing a conversation with it)",
    )
    .openapi("DevicesChanged"),
  prekeys_low: z
    .object({
      one_time_prekeys: z.number().int().min(0).describe("This device's unclaimed one-time EC prekeys now"),
      kem_prekeys: z.number().int().min(0).describe("This device's unclaimed one-time KEM prekeys now"),
      reason: z
        .enum(["low", "claim_budget_spent"])
        .describe(
          "`low`: a claim left a kind below the top-up mark; `claim_budget_spent`: this device handed out " +
            "its one-time prekeys for the day, so claims now get none (someone may be draining them)",
        )
        .openapi("PrekeysLowReason"),
    })
    .describe(
      "This device's one-time prekeys run low or are being claimed fast: upload more (PUT /api/v1/keys)",
    )
    .openapi("PrekeysLow"),
  erased: z
    .object({})
    .describe(
      "An entry whose subject was erased since it was written (an account deleted, a device " +
        "removed); it keeps its position so the stream has no gap. Nothing to do.",
    )
    .openapi("Erased"),
} as const;

export type EntryType = keyof typeof entryData;
export type EntryData<T extends EntryType> = z.infer<(typeof entryData)[T]>;
export const entryTypes = Object.keys(entryData) as EntryType[];

const pascal = (s: string) => s.replace(/(^|_)(\w)/g, (_, __, c: string) => c.toUpperCase());
/** Each kind a named component, so the spec's union is a discriminated `oneOf` of references. */
const entrySchema = <T extends EntryType>(type: T) =>
  z
    .object({ type: z.literal(type), position: Position, data: entryData[type] })
    .openapi(`${pascal(type)}Entry`);

/** One stream entry as a device receives it. */
export const StreamEntry = z
  .discriminatedUnion("type", [
    entrySchema("new_message"),
    entrySchema("message_edited"),
    entrySchema("message_deleted"),
    entrySchema("message_status_update"),
    entrySchema("message_viewed"),
    entrySchema("message_expired"),
    entrySchema("conversation_updated"),
    entrySchema("contacts_updated"),
    entrySchema("identity_changed"),
    entrySchema("devices_changed"),
    entrySchema("prekeys_low"),
    entrySchema("erased"),
  ])
  .openapi("StreamEntry");
export type StreamEntryBody = z.infer<typeof StreamEntry>;

export const SyncQuery = z.object({
  since: z.coerce
    .number<string>()
    .int()
    .min(0)
    .max(Number.MAX_SAFE_INTEGER)
    .default(0)
    .openapi({
      param: { in: "query" },
      type: "integer",
      minimum: 0,
      maximum: Number.MAX_SAFE_INTEGER,
      format: "int64",
      default: 0,
      description: "The last position the device has stored; entries after it are returned",
    }),
  limit: z.coerce
    .number<string>()
    .int()
    .min(1)
    .max(500)
    .default(100)
    .openapi({
      param: { in: "query" },
      type: "integer",
      minimum: 1,
      maximum: 500,
      default: 100,
      description: "Page size, 1-500",
    }),
});

export const SyncPage = z
  .object({
    entries: z.array(StreamEntry),
    has_more: z.boolean().describe("More entries follow the last one returned"),
    position: z.number().int().min(0).describe("The newest position in the stream now"),
  })
  .openapi("SyncPage");
