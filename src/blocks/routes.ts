import { z } from "@hono/zod-openapi";
import { bearer, json, route, Timestamp } from "../http/openapi.js";
import { PageQuery, Pagination } from "../http/pagination.js";
import { Id, UserIdParam } from "../users/schemas.js";

const tags = ["Blocking"];

export const BlockBody = z
  .object({
    user_id: Id,
    username: z.string().nullable().openapi({ description: "null when no account you can see has this id" }),
    blocked_at: Timestamp,
  })
  .openapi("Block");

export const blockUser = route({
  method: "post",
  path: "/users/{user_id}/block",
  tags,
  security: bearer,
  operationId: "blockUser",
  summary: "Block a user; blocking again is a no-op",
  description:
    "Idempotent: 204 whether or not the user was already blocked, and 204 for any well-formed id, so " +
    "blocking reveals nothing about whether an account exists. At most 5,000 blocks a user. Any contact or pending request " +
    "between the two ends. The blocked user then finds the blocker absent: profile, search and " +
    "contact requests answer as for an unknown user, and they cannot message the blocker.",
  request: { params: UserIdParam },
  responses: { 204: { description: "Blocked" } },
  errors: ["INVALID_STATE"],
});

export const unblockUser = route({
  method: "delete",
  path: "/users/{user_id}/block",
  tags,
  security: bearer,
  operationId: "unblockUser",
  summary: "Unblock a user",
  description: "404 `NOT_FOUND` when the caller has not blocked that user.",
  request: { params: UserIdParam },
  responses: { 204: { description: "Unblocked" } },
  errors: ["NOT_FOUND"],
});

export const listBlocks = route({
  method: "get",
  path: "/users/me/blocks",
  tags,
  security: bearer,
  operationId: "listBlocks",
  summary: "The users the caller has blocked, newest first",
  description:
    "The users the caller has blocked, newest first, paged. A blocked user cannot start a conversation " +
    "with the caller or send in their 1:1",
  request: { query: z.object(PageQuery) },
  responses: {
    200: json(
      z.object({ blocks: z.array(BlockBody), pagination: Pagination }).openapi("BlockList"),
      "Blocks",
    ),
  },
});
