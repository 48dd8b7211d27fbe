import type { Deps } from "../deps.js";
import { createRouter } from "../http/openapi.js";
import { deviceHandlers } from "./handlers.js";
import * as r from "./routes.js";

export function deviceRoutes(deps: Deps) {
  const h = deviceHandlers(deps);
  return createRouter()
    .openapi(r.listDevices, h.listDevices)
    .openapi(r.deleteDevice, h.deleteDevice)
    .openapi(r.listUserDevices, h.listUserDevices);
}
