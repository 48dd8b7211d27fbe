import { z } from "@hono/zod-openapi";
import { Id, Username } from "../users/schemas.js";

export const UserIdParam = z.object({ user_id: Id.openapi({ param: { in: "path" } }) });

export const PageQuery = {
  limit: z.coerce
    .number<string>()
    .int()
    .min(1)
    .max(100)
    .default(20)
    .openapi({ param: { in: "query" }, description: "Page size, 1-100" }),
  offset: z.coerce
    .number<string>()
    .int()
    .min(0)
    .default(0)
    // Spelled out: the generator sees null coerce to 0, pass, and would call the field nullable.
    .openapi({
      param: { in: "query" },
      type: "integer",
      minimum: 0,
      default: 0,
      description: "Entries to skip",
    }),
};

export const Pagination = z
  .object({
    total: z.number().int(),
    limit: z.number().int(),
    offset: z.number().int(),
    has_more: z.boolean(),
  })
  .openapi("Pagination");

export const page = (total: number, limit: number, offset: number) => ({
  total,
  limit,
  offset,
  has_more: offset + limit < total,
});

export const ContactStatus = z.enum(["requested", "incoming", "accepted"]).openapi({
  description: "`requested`: the caller asked; `incoming`: the other user asked; `accepted`: contacts",
});
const DisplayName = z.string().trim().min(1).max(64);

export const CreateContact = z
  .object({
    user_id: Id.optional(),
    username: Username.optional(),
    display_name: DisplayName.optional().openapi({ description: "The caller's private name for them" }),
  })
  .strict()
  .refine((b) => (b.user_id === undefined) !== (b.username === undefined), {
    message: "give exactly one of user_id or username",
  })
  .openapi("CreateContactRequest");

export const UpdateContact = z
  .object({ display_name: DisplayName.nullable().openapi({ description: "null clears it" }) })
  .strict()
  .openapi("UpdateContactRequest");

export const ContactQuery = z.object({
  ...PageQuery,
  search: z
    .string()
    .trim()
    .min(1)
    .max(64)
    .optional()
    .openapi({ param: { in: "query" }, description: "Substring of display_name or username, any case" }),
  status: ContactStatus.optional().openapi({ param: { in: "query" } }),
});

export const ContactBody = z
  .object({
    user_id: z.string(),
    username: z.string(),
    full_name: z.string(),
    avatar_url: z.string().nullable(),
    display_name: z.string().nullable(),
    status: ContactStatus,
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi("Contact");

export const ContactList = z
  .object({ contacts: z.array(ContactBody), pagination: Pagination })
  .openapi("ContactList");
