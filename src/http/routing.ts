import type { Hono } from "hono";

/**
 * The methods some route (not a catch-all middleware) answers on this path, with HEAD wherever GET
 * is, as Hono answers HEAD with the GET route. Asked of the app's own router, so it can't disagree
 * with what a request would match.
 */
// biome-ignore lint/suspicious/noExplicitAny: any Hono app, whatever its env
export function allowedMethods(app: Hono<any, any, any>, path: string): string[] {
  const methods = new Set(app.routes.map((r) => r.method).filter((m) => m !== "ALL"));
  const allowed = [...methods].filter((method) =>
    app.router.match(method, path)[0].some(([[, route]]) => route.method !== "ALL"),
  );
  if (allowed.includes("GET")) allowed.push("HEAD");
  return allowed;
}
