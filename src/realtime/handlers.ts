import { AppError } from "../http/errors.js";
import type { Handlers } from "../http/openapi.js";
import type * as r from "./routes.js";

/**
 * The handlers of the routes in ./routes.ts; ./index.ts wires them. The socket's own events are
 * in events.ts: upgrades never reach here (the HTTP server hands them to upgrade.ts), so a plain
 * GET /ws gets a 426.
 */
export function realtimeHandlers(): Handlers<typeof r> {
  return {
    ws: () => {
      throw new AppError("UPGRADE_REQUIRED");
    },
  };
}
