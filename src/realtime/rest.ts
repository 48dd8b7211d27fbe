import { AppError } from "../shared/errors.js";
import { createRouter } from "../shared/openapi.js";
import * as r from "./routes.js";

/** Upgrades never reach here (the HTTP server hands them to src/realtime/upgrade.ts). */
export const realtimeRoutes = () =>
  createRouter().openapi(r.ws, () => {
    throw new AppError("UPGRADE_REQUIRED");
  });
