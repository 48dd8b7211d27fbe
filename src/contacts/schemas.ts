import { z } from "@hono/zod-openapi";
import { Timestamp, trimmed } from "../http/openapi.js";
import { PageQuery, Pagination } from "../http/pagination.js";
import { Id, Username } from "../users/schemas.js";

export const ContactStatus = z.enum(["requested", "incoming", "accepted"]).openapi("ContactStatus", {
  description: "`requested`: the caller asked; `incoming`: the other user asked; `accepted`: contacts",
});
const DisplayName = trimmed(1, 64);

/**
 * "Exactly one of user_id or username" in JSON Schema terms that generators leave alone (they
 * would turn a oneOf into wrapper types): without user_id, username is required; with user_id,
 * username is not allowed. openapi3-ts does not type these 2020-12 keywords, hence the cast.
 */
const exactlyOne = {
  if: { not: { required: ["user_id"] } },
  // biome-ignore lint/suspicious/noThenProperty: JSON Schema's keyword; this object is never awaited
  then: { required: ["username"] },
  dependentSchemas: { user_id: { not: { required: ["username"] } } },
} as object;

export const CreateContact = z
  .object({
    user_id: Id.optional().openapi({ description: "The user to add; give this or `username`, not both" }),
    username: Username.optional().openapi({
      description: "The user to add, if discoverable by username; give this or `user_id`, not both",
    }),
    display_name: DisplayName.optional().openapi({ description: "The caller's private name for them" }),
  })
  .strict()
  .refine((b) => (b.user_id === undefined) !== (b.username === undefined), {
    message: "give exactly one of user_id or username",
  })
  .openapi("CreateContactRequest", exactlyOne);

export const UpdateContact = z
  .object({ display_name: DisplayName.nullable().openapi({ description: "null clears it" }) })
  .strict()
  .openapi("UpdateContactRequest");

export const ContactQuery = z.object({
  ...PageQuery,
  search: trimmed(1, 64)
    .optional()
    .openapi({ param: { in: "query" }, description: "Substring of display_name or username, any case" }),
  status: ContactStatus.optional().openapi({ param: { in: "query" } }),
});

export const ContactBody = z
  .object({
    user_id: Id,
    username: z.string(),
    full_name: z.string(),
    avatar_url: z.string().nullable(),
    display_name: z.string().nullable(),
    status: ContactStatus,
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .openapi("Contact");

export const ContactList = z
  .object({ contacts: z.array(ContactBody), pagination: Pagination })
  .openapi("ContactList");
