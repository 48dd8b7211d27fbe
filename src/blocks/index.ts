import { parseId } from "../db/ids.js";
import type { Deps } from "../deps.js";
import { AppError } from "../shared/errors.js";
import { createRouter } from "../shared/openapi.js";
import { page } from "../shared/pagination.js";
import { blockUser, listBlocks, notSelf, unblockUser } from "./repo.js";
import * as r from "./routes.js";

export function blockRoutes(deps: Deps) {
  return createRouter()
    .openapi(r.listBlocks, async (c) => {
      const { limit, offset } = c.req.valid("query");
      const { entries, total } = await listBlocks(deps, c.get("auth").userId, limit, offset);
      return c.json({ blocks: entries, pagination: page(total, limit, offset) }, 200);
    })
    .openapi(r.blockUser, async (c) => {
      const them = parseId(c.req.valid("param").user_id, "user_id");
      const caller = c.get("auth").userId;
      notSelf(caller, them, "block");
      // Blocking someone who blocked you is allowed: safety first, and it reveals no more than the id did.
      if (!(await deps.store.col.users.findOne({ _id: them }, { projection: { _id: 1 } }))) {
        throw new AppError("USER_NOT_FOUND");
      }
      await blockUser(deps, caller, them);
      return c.body(null, 204);
    })
    .openapi(r.unblockUser, async (c) => {
      const them = parseId(c.req.valid("param").user_id, "user_id");
      const caller = c.get("auth").userId;
      notSelf(caller, them, "unblock");
      if (!(await unblockUser(deps, caller, them))) throw new AppError("NOT_FOUND", "User is not blocked");
      return c.body(null, 204);
    });
}
