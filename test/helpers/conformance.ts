import type { ZodType } from "zod";
import type { createApp } from "../../src/app.js";

interface Declared {
  method: string;
  pattern: RegExp;
  path: string;
  responses: Record<string, { content?: Record<string, { schema?: unknown }> }>;
}

/**
 * Checks every response a test receives against the route's own declaration, the same zod
 * schemas the OpenAPI spec is generated from: an undeclared status or a body off its schema fails
 * the test that got it.
 */
export function conformanceChecker(app: ReturnType<typeof createApp>) {
  const routeOf = routeMatcher(app);
  return (method: string, url: string, status: number, body: unknown) => {
    const route = routeOf(method, url);
    if (!route) return; // unmatched paths answer the documented 404 body, checked in errors tests
    const declared = route.responses[String(status)];
    if (!declared)
      throw new Error(`${method} ${route.path} answered ${status}, which its route does not declare`);
    const schema = declared.content?.["application/json"]?.schema as ZodType | undefined;
    if (!schema) return;
    const result = schema.safeParse(body);
    if (!result.success) {
      throw new Error(`${method} ${route.path} ${status} body is off its schema: ${result.error.message}`);
    }
  };
}

/** The declared route a request goes to, matched on method and path (the query string is ignored). */
export function routeMatcher(app: ReturnType<typeof createApp>) {
  const routes: Declared[] = app.openAPIRegistry.definitions.flatMap((d) =>
    d.type === "route"
      ? [
          {
            method: d.route.method.toUpperCase(),
            path: d.route.path,
            pattern: new RegExp(`^${d.route.path.replace(/\{[^}]+\}/g, "[^/]+")}$`),
            responses: d.route.responses as Declared["responses"],
          },
        ]
      : [],
  );
  return (method: string, url: string): Declared | undefined => {
    const path = url.split("?")[0]!;
    // Static segments win over parameters, as in the router.
    const matches = routes.filter((r) => r.method === method && r.pattern.test(path));
    return matches.find((r) => r.path === path) ?? matches[0];
  };
}
