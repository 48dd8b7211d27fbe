import { contactsChanged } from "../contacts/notices.js";
import { removePair } from "../contacts/repo.js";
import { parseId } from "../db/ids.js";
import type { Deps } from "../deps.js";
import { AppError } from "../http/errors.js";
import type { Handlers } from "../http/openapi.js";
import { page } from "../http/pagination.js";
import { canSee, notSelf } from "../policy/policy.js";
import { findUsers } from "../users/repo.js";
import { blockUser as insertBlock, listBlocks, unblockUser } from "./repo.js";
import type * as r from "./routes.js";

/** The handlers of the routes in ./routes.ts, typed by them; ./index.ts wires them. */
export function blockHandlers(deps: Deps): Handlers<typeof r> {
  return {
    listBlocks: async (c) => {
      const me = c.get("auth").userId;
      const { limit, offset } = c.req.valid("query");
      const { docs, total } = await listBlocks(deps, me, limit, offset);
      const users = await findUsers(
        deps,
        docs.map((d) => d.blocked_id),
      );
      const blocks = await Promise.all(
        docs.map(async (d) => {
          const user = users.get(d.blocked_id.toHexString());
          const seen = user && (await canSee(deps, me, user._id));
          return {
            user_id: d.blocked_id.toHexString(),
            username: seen ? user.username : null,
            blocked_at: d.created_at.toISOString(),
          };
        }),
      );
      return c.json({ blocks, pagination: page(total, limit, offset) }, 200);
    },
    blockUser: async (c) => {
      const them = parseId(c.req.valid("param").user_id, "user_id");
      const me = c.get("auth").userId;
      notSelf(me, them, "block");
      // Stored whether or not the id is an account: the answer must not tell which it is.
      await insertBlock(deps, me, them);
      // After the insert, so a contact request racing this block either is deleted here or sees it.
      // Only a contact that existed is reported gone: a block of a stranger tells them nothing.
      if (await removePair(deps, me, them)) await contactsChanged(deps, me, them);
      return c.body(null, 204);
    },
    unblockUser: async (c) => {
      const them = parseId(c.req.valid("param").user_id, "user_id");
      const me = c.get("auth").userId;
      notSelf(me, them, "unblock");
      if (!(await unblockUser(deps, me, them))) throw new AppError("NOT_FOUND", "User is not blocked");
      return c.body(null, 204);
    },
  };
}
