import { z } from "zod";

/**
 * What `npm run admin -- <command> --json` prints, one schema a command: scripts rely on these, and
 * test/integration/admin.test.ts checks every command's output against its schema (strict: no
 * field that is not declared here).
 */
const Id = z.string().regex(/^[0-9a-f]{24}$/);
const Time = z.iso.datetime();

const Invite = z.strictObject({
  id: Id,
  uses: z.number().int(),
  uses_left: z.number().int(),
  created_at: Time,
  expires_at: Time.nullable(),
  revoked: z.boolean(),
});
const UserRow = z.strictObject({
  id: Id,
  email: z.string(),
  username: z.string(),
  status: z.enum(["active", "suspended"]),
  created_at: Time,
  last_seen_at: Time,
});
const Device = z.strictObject({
  device_id: z.string(),
  device_name: z.string(),
  created_at: Time,
  last_seen_at: Time,
});

export const adminOutput = {
  "invite create": z.strictObject({ invite: Invite, code: z.string().regex(/^hush-[A-Za-z0-9_-]{22}$/) }),
  "invite list": z.strictObject({ invites: z.array(Invite) }),
  "invite revoke": z.strictObject({ id: Id, revoked: z.literal(true) }),
  "users list": z.strictObject({ users: z.array(UserRow) }),
  "users show": z.strictObject({
    user: UserRow.extend({ suspended_at: Time.nullable(), suspend_reason: z.string().nullable() }).strict(),
    devices: z.array(Device),
    counts: z.strictObject({ sessions: z.number().int(), conversations: z.number().int() }),
  }),
  "users suspend": z.strictObject({ id: Id, status: z.literal("suspended"), sessions_cut: z.number().int() }),
  "users unsuspend": z.strictObject({ id: Id, status: z.literal("active") }),
  "users delete": z.strictObject({ id: Id, deleted: z.literal(true) }),
  stats: z.strictObject({
    accounts: z.strictObject({
      total: z.number().int(),
      active: z.number().int(),
      suspended: z.number().int(),
    }),
    devices: z.number().int(),
    conversations: z.number().int(),
    messages: z.number().int(),
    wrapped_keys: z.number().int(),
    attachment_bytes_at_most: z.number().int(),
    pending_expiry: z.record(z.string(), z.number().int()),
  }),
  audit: z.strictObject({
    entries: z.array(
      z.strictObject({
        at: Time,
        actor: z.string(),
        action: z.string(),
        target: z.string().nullable(),
        details: z.record(z.string(), z.union([z.string(), z.number(), z.null()])),
      }),
    ),
  }),
  backup: z.strictObject({ file: z.string(), bytes: z.number().int() }),
  restore: z.strictObject({ data_dir: z.string(), bytes: z.number().int() }),
} as const;
export type AdminCommand = keyof typeof adminOutput;
