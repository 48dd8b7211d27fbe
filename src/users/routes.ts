import { createRoute, z } from "@hono/zod-openapi";
import { IdentityKeyB64 } from "../keys/schemas.js";
import { bearer, errors, json, jsonBody } from "../shared/openapi.js";
import { PrivacyBody, ProfileFields, PublicUserBody, UserBody, UserIdParam, Username } from "./schemas.js";

const tags = ["Users"];
export const searchRule = { name: "users-search", limit: 30, windowSeconds: 3_600 };

export const UpdateMe = z
  .object({
    username: Username.optional(),
    ...ProfileFields,
    full_name: ProfileFields.full_name.optional(),
    avatar_url: z
      .url({ protocol: /^https$/, error: "must be an https:// URL" })
      .max(2048)
      .nullable()
      .optional(),
    public_key: IdentityKeyB64.nullable().optional(),
    privacy: PrivacyBody.partial().strict().optional(),
  })
  .strict()
  .refine((b) => Object.keys(b).length > 0, { message: "name at least one field to change" })
  .openapi("UpdateMeRequest");

export const getMe = createRoute({
  method: "get",
  path: "/users/me",
  tags,
  security: bearer,
  operationId: "getMe",
  summary: "The calling user (the same body as GET /auth/me)",
  responses: { 200: json(UserBody, "Current user"), ...errors(401) },
});

export const updateMe = createRoute({
  method: "patch",
  path: "/users/me",
  tags,
  security: bearer,
  operationId: "updateMe",
  summary: "Change profile fields, username or privacy settings",
  request: jsonBody(UpdateMe),
  responses: { 200: json(UserBody, "Updated user"), ...errors(401, 409, 413, 415) },
});

export const deleteMe = createRoute({
  method: "delete",
  path: "/users/me",
  tags,
  security: bearer,
  operationId: "deleteMe",
  summary: "Delete the account: sessions, devices, keys, contacts and blocks go at once",
  responses: { 204: { description: "Deleted" }, ...errors(401) },
});

export const SearchQuery = z.object({
  q: z
    .string()
    .trim()
    .min(3)
    .max(254)
    .openapi({ param: { in: "query" }, description: "An exact username or email" }),
});
export const searchUsers = createRoute({
  method: "get",
  path: "/users/search",
  tags,
  security: bearer,
  operationId: "searchUsers",
  summary: "Find a user by exact username or email",
  description:
    "Only users who allow discovery that way are found; matching ignores case. Finding someone by email " +
    "needs their `discoverable_by_email`, off by default. Limited to " +
    `${searchRule.limit} searches an hour per account, so that nobody can test a list of addresses.`,
  request: { query: SearchQuery },
  responses: {
    200: json(z.object({ users: z.array(PublicUserBody) }), "Matches (0 or 1)"),
    ...errors(401, 429),
  },
});

export const getUser = createRoute({
  method: "get",
  path: "/users/{user_id}",
  tags,
  security: bearer,
  operationId: "getUser",
  summary: "A user's public profile, privacy settings applied",
  request: { params: UserIdParam },
  responses: { 200: json(PublicUserBody, "Public profile"), ...errors(401, 404) },
});
