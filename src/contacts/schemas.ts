import { z } from "@hono/zod-openapi";
import { PageQuery, Pagination } from "../shared/pagination.js";
import { Id, Username } from "../users/schemas.js";

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
