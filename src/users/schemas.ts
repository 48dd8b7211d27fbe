import { z } from "@hono/zod-openapi";
import { DeviceBody } from "../devices/schemas.js";
import { orNull, Timestamp, trimmed } from "../http/openapi.js";

export const Id = z
  .string()
  .regex(/^[0-9a-fA-F]{24}$/, "must be a 24-character hex id")
  .openapi({
    example: "507f1f77bcf86cd799439011",
  });
export const UserIdParam = z.object({ user_id: Id.openapi({ param: { in: "path" } }) });

/** The one rule for email addresses (zod's own), stated in the spec as the pattern. */
const EMAIL_RULE = z.regexes.email;

export const Email = z
  .string()
  .trim()
  .toLowerCase()
  .max(254)
  .pipe(z.email({ pattern: EMAIL_RULE, message: "must be a valid email address" }))
  .openapi({
    format: "email",
    // `format: email` alone lets clients accept addresses the server refuses.
    pattern: EMAIL_RULE.source,
    example: "user@example.com",
    description: "Compared without case; surrounding spaces are trimmed",
  });
export const Username = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9._]{3,30}$/, "must be 3-30 characters of letters, digits, . and _")
  .openapi({ example: "johndoe" });
const Mobile = z.string().regex(/^\+[1-9]\d{6,14}$/, "must be an E.164 number such as +919876543210");
const IsoDate = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, "must be an ISO date (YYYY-MM-DD)")
  .refine((s) => !Number.isNaN(Date.parse(`${s}T00:00:00Z`)) && new Date(s).toISOString().startsWith(s), {
    message: "must be a real calendar date",
  })
  .openapi({ format: "date", example: "1995-01-15" });
export const Gender = z
  .enum(["male", "female", "non_binary", "other", "prefer_not_to_say"])
  .openapi("Gender");
export const AllowMessagesFrom = z
  .enum(["everyone", "contacts"])
  .openapi("AllowMessagesFrom", { description: "Who may start a conversation with the user" });

export const ProfileFields = {
  full_name: trimmed(1, 100),
  mobile: Mobile.nullable().optional(),
  address: z.string().trim().max(200).nullable().optional(),
  date_of_birth: IsoDate.nullable()
    .optional()
    .openapi({
      description:
        "A real calendar date in the past, by the server's clock in UTC: today or later is a 400 naming " +
        "`date_of_birth` (which JSON Schema cannot say)",
    }),
  gender: orNull(Gender).optional(),
  bio: z.string().max(500).nullable().optional(),
};

export const PrivacyBody = z
  .object({
    discoverable_by_email: z.boolean(),
    discoverable_by_username: z.boolean(),
    show_online_status: z.boolean(),
    read_receipts: z.boolean(),
    allow_messages_from: AllowMessagesFrom,
  })
  .openapi("Privacy");

const ProfileBody = z
  .object({
    full_name: z.string(),
    mobile: z.string().nullable(),
    address: z.string().nullable(),
    date_of_birth: z.iso.date().nullable(),
    gender: orNull(Gender),
    bio: z.string().nullable(),
    avatar_url: z.string().nullable(),
    created_at: Timestamp,
  })
  .openapi("Profile");

/** HABIBTI's presence block: `online` while the user has an open WebSocket on any process. */
const Presence = z.object({ online: z.boolean(), last_seen: Timestamp }).openapi("Presence");

export const UserBody = z
  .object({
    id: Id,
    email: z.email(),
    username: z.string(),
    public_key: z
      .string()
      .nullable()
      .openapi({
        description:
          "The account key (base64 Ed25519) that signs the account's devices; null for a legacy account " +
          "without one, whose devices are unsigned. Set at sign-up (complete-signup's top-level " +
          "`public_key`), changed only by an account-key reset. Not a device's key: each device's identity " +
          "key is `devices[].identity_key`, so an account signed up without an account key has null here",
      }),
    profile: ProfileBody,
    privacy: PrivacyBody,
    devices: z.array(DeviceBody),
    status: Presence,
  })
  .openapi("User");

/** What other people see: no email, mobile, address or birth date; status only if shared. */
export const PublicUserBody = z
  .object({
    id: Id,
    username: z.string(),
    profile: z
      .object({
        full_name: z.string(),
        bio: z.string().nullable(),
        avatar_url: z.string().nullable(),
      })
      .openapi("PublicProfile"),
    status: orNull(Presence).openapi({
      description:
        "Null unless the caller is an accepted contact (no block either way) and the user shares their " +
        "online status; `last_seen` to 5 minutes",
    }),
  })
  .openapi("PublicUser");
