import type { RouteHandler } from "@hono/zod-openapi";
import { AppError } from "../http/errors.js";
import type { AppEnv } from "../http/openapi.js";
import type * as r from "./routes.js";

/**
 * The WebSocket route's REST side (the socket's own events are in events.ts). Upgrades never
 * reach here: the HTTP server hands them to upgrade.ts; a plain GET gets a 426.
 */
export const upgradeRequired: RouteHandler<typeof r.ws, AppEnv> = () => {
  throw new AppError("UPGRADE_REQUIRED");
};
