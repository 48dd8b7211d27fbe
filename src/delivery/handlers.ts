import type { Deps } from "../deps.js";
import type { Handlers } from "../http/openapi.js";
import { syncPage } from "./repo.js";
import type * as r from "./routes.js";

/** The handlers of the routes in ./routes.ts, typed by them; ./index.ts wires them. The socket's `sync` event answers the same. */
export function streamHandlers(deps: Deps): Handlers<typeof r> {
  return {
    sync: async (c) => {
      const { since, limit } = c.req.valid("query");
      const { userId, deviceId } = c.get("auth");
      return c.json(await syncPage(deps, userId, deviceId, since, limit), 200);
    },
  };
}
