import { DISK_FULL_MEMORY_MS, STORE_RETRY_AFTER_SECONDS } from "../db/unavailable.js";
import type { Deps } from "../deps.js";
import { AppError } from "../http/errors.js";
import type { Handlers } from "../http/openapi.js";
import { safeEqualText } from "../lib/random.js";
import { probeWrite } from "./repo.js";
import type * as r from "./routes.js";

/**
 * Ready when a bounded write succeeds and no write failed for want of space lately: on a full disk
 * writes fail on and off, so one lucky probe must not say ready.
 */
async function ready(deps: Deps) {
  const now = deps.clock.now();
  const full = deps.store.health.diskFullAt;
  if (full !== null && now.getTime() - full < DISK_FULL_MEMORY_MS) return false;
  return probeWrite(deps.store.db, now, 1_500);
}

/** The handlers of the routes in ./routes.ts, typed by them; ./index.ts wires them. */
export function opsHandlers(deps: Deps, version: string): Handlers<typeof r> {
  return {
    banner: (c) =>
      c.json({ name: "Hush", version, api: "/api/v1", docs: "/docs", openapi: "/openapi.json" }, 200),
    healthz: (c) => c.json({ status: "ok" as const }, 200),
    readyz: async (c) =>
      (await ready(deps))
        ? c.json({ status: "ready" as const, database: "up" as const }, 200)
        : c.json({ status: "unavailable" as const, database: "down" as const }, 503, {
            "Retry-After": String(STORE_RETRY_AFTER_SECONDS),
          }),
    metrics: (c) => {
      const token = deps.config.METRICS_TOKEN;
      const given = /^Bearer\s+(\S+)$/i.exec(c.req.header("authorization") ?? "")?.[1];
      if (token && !(given && safeEqualText(given, token)))
        throw new AppError("UNAUTHORIZED", "Metrics token required");
      return c.text(deps.metrics.render(), 200, { "Content-Type": "text/plain; version=0.0.4" });
    },
  };
}
