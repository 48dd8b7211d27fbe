import { AppError } from "../http/errors.js";
import { createRouter } from "../http/openapi.js";
import * as r from "./routes.js";

/** Upgrades never reach here (the HTTP server hands them to src/realtime/upgrade.ts). */
export const realtimeRoutes = () =>
  createRouter().openapi(r.ws, () => {
    throw new AppError("UPGRADE_REQUIRED");
  });
