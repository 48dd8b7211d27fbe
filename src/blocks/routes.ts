import { createRoute, z } from "@hono/zod-openapi";
import { bearer, errors, json } from "../shared/openapi.js";
import { PageQuery, Pagination } from "../shared/pagination.js";
import { UserIdParam } from "../users/schemas.js";

const tags = ["Blocking"];

export const BlockBody = z
  .object({
    user_id: z.string(),
    username: z.string().nullable().openapi({ description: "null when no account you can see has this id" }),
    blocked_at: z.string(),
  })
  .openapi("Block");

export const blockUser = createRoute({
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
  responses: { 204: { description: "Blocked" }, ...errors(401, 409) },
});

export const unblockUser = createRoute({
  method: "delete",
  path: "/users/{user_id}/block",
  tags,
  security: bearer,
  operationId: "unblockUser",
  summary: "Unblock a user",
  request: { params: UserIdParam },
  responses: { 204: { description: "Unblocked" }, ...errors(401, 404) },
});

export const listBlocks = createRoute({
  method: "get",
  path: "/users/me/blocks",
  tags,
  security: bearer,
  operationId: "listBlocks",
  summary: "The users the caller has blocked, newest first",
  request: { query: z.object(PageQuery) },
  responses: {
    200: json(
      z.object({ blocks: z.array(BlockBody), pagination: Pagination }).openapi("BlockList"),
      "Blocks",
    ),
    ...errors(401),
  },
});
