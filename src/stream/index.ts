import type { Deps } from "../deps.js";
import { createRouter } from "../http/openapi.js";
import { syncPage } from "./repo.js";
import * as r from "./routes.js";

export function streamRoutes(deps: Deps) {
  return createRouter().openapi(r.sync, async (c) => {
    const { since, limit } = c.req.valid("query");
    const { userId, deviceId } = c.get("auth");
    return c.json(await syncPage(deps, userId, deviceId, since, limit), 200);
  });
}
