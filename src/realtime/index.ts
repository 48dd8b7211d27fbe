import { createRouter } from "../http/openapi.js";
import { upgradeRequired } from "./handlers.js";
import * as r from "./routes.js";

export const realtimeRoutes = () => createRouter().openapi(r.ws, upgradeRequired);
