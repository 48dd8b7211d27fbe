import type { RouteHandler } from "@hono/zod-openapi";
import type { Deps } from "../deps.js";
import type { AppEnv } from "../http/openapi.js";
import { syncPage } from "./repo.js";
import type * as r from "./routes.js";

/** The stream's REST handlers, built from the deps; the socket's `sync` event answers the same. */
export const streamHandlers = (deps: Deps) => {
  const sync: RouteHandler<typeof r.sync, AppEnv> = async (c) => {
    const { since, limit } = c.req.valid("query");
    const { userId, deviceId } = c.get("auth");
    return c.json(await syncPage(deps, userId, deviceId, since, limit), 200);
  };
  return { sync };
};
