import { z } from "@hono/zod-openapi";
import { bearer, json, jsonBody, route, trimmed } from "../http/openapi.js";
import { publicHttpsUrl } from "../lib/public-url.js";
import { PrivacyBody, ProfileFields, PublicUserBody, UserBody, UserIdParam, Username } from "./schemas.js";

const tags = ["Users"];
export const searchRule = { name: "users-search", limit: 30, windowSeconds: 3_600 };
/** Lookups by id, per account: enough to open every profile of a few full groups in an hour. */
export const lookupRule = { name: "users-lookup", limit: 120, windowSeconds: 3_600 };
const PrivacyUpdate = PrivacyBody.partial().strict().openapi("PrivacyUpdate");

export const UpdateMe = z
  .object({
    username: Username.optional(),
    ...ProfileFields,
    full_name: ProfileFields.full_name.optional(),
    avatar_url: publicHttpsUrl().nullable().optional(),
    privacy: PrivacyUpdate.optional(),
  })
  .strict()
  .refine((b) => Object.keys(b).length > 0, { message: "name at least one field to change" })
  .openapi("UpdateMeRequest", { minProperties: 1 });

export const getMe = route({
  method: "get",
  path: "/users/me",
  tags,
  security: bearer,
  operationId: "getMe",
  summary: "The calling user (the same body as GET /auth/me)",
  description:
    "The calling account as its owner sees it: profile, privacy settings and email. The same body as " +
    "`GET /auth/me`; `PATCH /users/me` changes it",
  responses: { 200: json(UserBody, "Current user") },
});

export const updateMe = route({
  method: "patch",
  path: "/users/me",
  tags,
  security: bearer,
  operationId: "updateMe",
  summary: "Change profile fields, username or privacy settings",
  description: "Name at least one field; null clears a nullable one. 409 `USERNAME_TAKEN`.",
  request: jsonBody(UpdateMe),
  responses: { 200: json(UserBody, "Updated user") },
  errors: ["USERNAME_TAKEN"],
});

export const deleteMe = route({
  method: "delete",
  path: "/users/me",
  tags,
  security: bearer,
  operationId: "deleteMe",
  summary: "Delete the account: sessions, devices, keys, contacts and blocks go at once",
  description:
    "Erases the account at once, for real: sessions, devices, keys, contacts, blocks and memberships go, " +
    "and the keys wrapped for its devices with them. Messages it sent stay in others' history with " +
    "`sender_id: null`. A 1:1 conversation stays with the other person, who can no longer send in it",
  responses: { 204: { description: "Deleted" } },
});

export const SearchQuery = z.object({
  q: trimmed(3, 254).openapi({ param: { in: "query" }, description: "An exact username or email" }),
});
export const searchUsers = route({
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
    200: json(
      z.object({ users: z.array(PublicUserBody).max(1) }).openapi("UserSearchResult"),
      "Matches (0 or 1)",
    ),
  },
  errors: ["RATE_LIMITED"],
});

export const getUser = route({
  method: "get",
  path: "/users/{user_id}",
  tags,
  security: bearer,
  operationId: "getUser",
  summary: "A user's public profile, privacy settings applied",
  description:
    "A user who has blocked the caller looks absent: 404 `USER_NOT_FOUND`. `status` (online, last seen " +
    "to 5 minutes) only for an accepted contact who shares it, else null. " +
    `${lookupRule.limit} lookups an hour per account.`,
  request: { params: UserIdParam },
  responses: { 200: json(PublicUserBody, "Public profile") },
  errors: ["USER_NOT_FOUND", "RATE_LIMITED"],
});
