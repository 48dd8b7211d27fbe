import type { Deps } from "../deps.js";
import { createRouter } from "../shared/openapi.js";

export function contactRoutes(_deps: Deps) {
  return createRouter();
}
