import { z } from "@hono/zod-openapi";
import { KeyType, linkFields } from "../devices/schemas.js";
import { orNull, Timestamp, trimmed } from "../http/openapi.js";
import { publicHttpsUrl } from "../lib/public-url.js";
import { Id } from "../users/schemas.js";
import { MAX_GROUP, MIN_GROUP } from "./repo.js";

export const ConversationIdParam = z.object({
  conversation_id: Id.openapi({ param: { in: "path" } }),
});
export const MemberParams = z.object({
  conversation_id: Id.openapi({ param: { in: "path" } }),
  user_id: Id.openapi({ param: { in: "path" } }),
});

const GroupName = trimmed(1, 64).openapi({ example: "Project Team" });
/** Members' clients fetch it: https, and never a private, loopback or link-local host. */
const PictureUrl = publicHttpsUrl().openapi({ example: "https://example.com/group.jpg" });

export const CreateConversation = z
  .object({ participant_id: Id.openapi({ description: "The other person" }) })
  .strict()
  .openapi("CreateConversationRequest");

export const CreateGroup = z
  .object({
    name: GroupName,
    participant_ids: z
      .array(Id)
      .min(MIN_GROUP - 1)
      .max(MAX_GROUP - 1)
      .superRefine((ids, ctx) => {
        const seen = new Set<string>();
        ids.forEach((id, i) => {
          if (seen.has(id.toLowerCase()))
            ctx.addIssue({ code: "custom", path: [i], message: "listed twice" });
          seen.add(id.toLowerCase());
        });
      })
      .openapi({
        uniqueItems: true,
        description: `Everyone but the creator: ${MIN_GROUP - 1}-${MAX_GROUP - 1} distinct users (a group has ${MIN_GROUP}-${MAX_GROUP} members); ids are compared without case`,
      }),
    picture_url: PictureUrl.optional(),
  })
  .strict()
  .openapi("CreateGroupRequest");

/** Bounds of a disappearing-message timer, per message or per conversation. */
export const TTL_BOUNDS = { min: 5, max: 90 * 86_400 };
export const TtlSeconds = z
  .number()
  .int()
  .min(TTL_BOUNDS.min)
  .max(TTL_BOUNDS.max)
  .openapi({ description: `Seconds, ${TTL_BOUNDS.min} to ${TTL_BOUNDS.max} (90 days)` });

/** A conversation's timer as a client sets it: 0 is off, as null is (a value every generator can send). */
const TimerSetting = z
  .number()
  .int()
  .min(0)
  .max(TTL_BOUNDS.max)
  .refine((n) => n === 0 || n >= TTL_BOUNDS.min, `must be 0 (off) or ${TTL_BOUNDS.min} to ${TTL_BOUNDS.max}`);

export const UpdateGroup = z
  .object({
    name: GroupName.optional(),
    picture_url: PictureUrl.nullable().optional().openapi({
      description: "An https:// URL on a public host (else a 400), or null to remove the picture",
    }),
    ttl_seconds: TimerSetting.nullable()
      .optional()
      .openapi({
        description:
          "The conversation's disappearing-message timer, applied to messages that set no ttl_seconds: " +
          `${TTL_BOUNDS.min} to ${TTL_BOUNDS.max} seconds, or \`0\` to turn it off (\`null\` too, as HABIBTI ` +
          "clients send; a client whose JSON library drops nulls sends 0). 1 to 4 is a 400. Members may set " +
          "it in a 1:1 conversation, admins in a group.",
      }),
  })
  .strict()
  .refine((b) => Object.keys(b).length > 0, { message: "name at least one field to change" })
  .openapi("UpdateGroupRequest", { minProperties: 1, description: "At least one field to change" });

export const UserRef = z.object({ user_id: Id }).strict().openapi("GroupMemberRequest");

export const ConversationQuery = z.object({
  limit: z.coerce
    .number<string>()
    .int()
    .min(1)
    .max(100)
    .default(50)
    .openapi({ param: { in: "query" }, description: "Page size, 1-100" }),
  skip: z.coerce
    .number<string>()
    .int()
    .min(0)
    .max(10_000)
    .default(0)
    .openapi({
      param: { in: "query" },
      type: "integer",
      minimum: 0,
      maximum: 10_000,
      default: 0,
      description: "Conversations to skip, 0-10000",
    }),
});

export const Role = z.enum(["admin", "member"]).openapi("MemberRole");

export const ConversationDevices = z
  .object({
    devices: z.array(
      z
        .object({
          user_id: z.string(),
          device_id: z.string(),
          identity_key: z.string(),
          key_type: KeyType,
          registration_id: z.number().int().nullable(),
          ...linkFields,
        })
        .openapi("ConversationDevice"),
    ),
  })
  .openapi("ConversationDevices");

export const Participant = z
  .object({
    user_id: z.string(),
    username: z.string(),
    full_name: z.string(),
    avatar_url: z.string().nullable(),
    online: z.boolean().openapi({ description: "False unless the caller may see their presence" }),
    last_seen: Timestamp.nullable().openapi({
      description:
        "To 5 minutes; null unless the caller is their accepted contact (no block either way) and they share it",
    }),
    role: Role,
  })
  .openapi("Participant");

export const LastMessageBody = z
  .object({
    message_id: z.string(),
    encrypted_preview: z.string().nullable().openapi({
      description: "The sender's encrypted preview; null when none was sent or the message was deleted",
    }),
    timestamp: Timestamp,
    sender_id: z.string().nullable().openapi({ description: "Null when the sender deleted their account" }),
  })
  .openapi("LastMessage");

export const ConversationBody = z
  .object({
    id: z.string(),
    type: z.enum(["one_to_one", "group"]).openapi("ConversationType"),
    name: z.string().nullable().openapi({ description: "Groups only" }),
    picture_url: z.string().nullable(),
    participants: z.array(Participant).openapi({
      description:
        "Every other member, longest-standing first: never the caller, as in HABIBTI's example (a new 1:1 " +
        "lists only the other person)",
    }),
    member_count: z
      .number()
      .int()
      .min(1)
      .openapi({
        description:
          "Members including the caller: `participants` plus one (a 1:1 with both people in it counts 2; " +
          "once the other person deleted their account, 1)",
      }),
    role: Role,
    last_message: orNull(LastMessageBody),
    ttl_seconds: z
      .number()
      .int()
      .nullable()
      .openapi({ description: "The disappearing-message timer for messages that set none (null: off)" }),
    unread_count: z.number().int(),
    archived: z.boolean(),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .openapi("Conversation", {
    description:
      "A conversation as the caller sees it: `role`, `unread_count` and `archived` are the caller's own",
  });

export const ConversationList = z
  .object({
    conversations: z.array(ConversationBody),
    total: z.number().int().openapi({ description: "The caller's conversations that are not archived" }),
  })
  .openapi("ConversationList");
