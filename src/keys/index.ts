import type { Deps } from "../deps.js";
import { createRouter } from "../shared/openapi.js";

export function keyRoutes(_deps: Deps) {
  return createRouter();
}
