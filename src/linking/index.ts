import type { Deps } from "../deps.js";
import { createRouter } from "../http/openapi.js";
import { linkingHandlers } from "./handlers.js";
import * as r from "./routes.js";

/**
 * Linking devices to their account key: approving a pending device, and the account-key reset
 * for whoever lost every device (docs/devices.md). The keys and signatures are the devices'
 * (src/devices/); this is where a change to them is decided and told.
 */
export function linkingRoutes(deps: Deps) {
  const h = linkingHandlers(deps);
  return createRouter()
    .openapi(r.approveDevice, h.approveDevice)
    .openapi(r.requestReset, h.requestReset)
    .openapi(r.cancelReset, h.cancelReset)
    .openapi(r.completeReset, h.completeReset);
}
