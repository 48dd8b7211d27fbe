import type { ZodObject, ZodType } from "zod";
import type { createApp } from "../../src/app.js";
import { ErrorBody } from "../../src/http/errors.js";
import { declaredCodes, declaredHeaders, rateLimitHeaders } from "../../src/http/openapi.js";
import { specApp } from "../../src/openapi-doc.js";

interface DeclaredResponse {
  content?: Record<string, { schema?: unknown; examples?: object }>;
}
interface Declared {
  method: string;
  pattern: RegExp;
  path: string;
  responses: Record<string, DeclaredResponse>;
}

/** A response as a test received it. */
export interface Observed {
  method: string;
  url: string;
  status: number;
  headers: Headers;
  /** Parsed JSON, the raw text when it is not JSON, or null for an empty body (bytes: anything, unread). */
  body: unknown;
}

/**
 * Checks every response a test receives against the route's own declaration, the same zod
 * schemas the OpenAPI spec is generated from. It fails on: an undeclared status; a body off its
 * schema, or carrying any field the schema does not declare, at any depth (zod would silently
 * strip it, so the parsed output is compared with what was received); a missing required header
 * or a malformed one; a rate-limit header where the response declares none; an error code the
 * route does not list for that status.
 */
export function conformanceChecker(app: ReturnType<typeof createApp> = specApp()) {
  const routeOf = routeMatcher(app);
  return (r: Observed) => {
    const route = routeOf(r.method, new URL(r.url, "http://x").pathname);
    if (!route) return; // unmatched paths answer the documented 404 body, checked in errors tests
    const where = `${r.method} ${route.path} ${r.status}`;
    const declared = route.responses[String(r.status)];
    if (!declared)
      throw new Error(`${r.method} ${route.path} answered ${r.status}, which it does not declare`);
    checkHeaders(where, declared, r.headers);
    checkBody(where, declared, r);
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
    // A literal path some route has is its own (src/http/router.ts): never a parameter route's.
    if (routes.some((r) => r.path === path))
      return routes.find((r) => r.method === method && r.path === path);
    return routes.find((r) => r.method === method && r.pattern.test(path));
  };
}
export type Checker = ReturnType<typeof conformanceChecker>;

function checkHeaders(where: string, declared: DeclaredResponse, headers: Headers) {
  const shape = (declaredHeaders(declared) as ZodObject | undefined)?.shape ?? {};
  const names = new Set(Object.keys(shape).map((n) => n.toLowerCase()));
  for (const [name, schema] of Object.entries(shape) as [string, ZodType][]) {
    const value = headers.get(name) ?? undefined;
    const result = schema.safeParse(value);
    if (!result.success) {
      const problem = value === undefined ? "is missing" : `is malformed (${JSON.stringify(value)})`;
      throw new Error(`${where}: declared header ${name} ${problem}`);
    }
  }
  for (const name of rateLimitHeaders) {
    if (headers.has(name) && !names.has(name.toLowerCase()))
      throw new Error(`${where}: sent ${name}, which this response does not declare`);
  }
}

function checkBody(where: string, declared: DeclaredResponse, r: Observed) {
  const content = declared.content ?? {};
  const json = content["application/json"];
  if (!json) {
    if (content["text/plain"]) {
      if (typeof r.body !== "string") throw new Error(`${where}: expected a text body`);
      return;
    }
    const types = Object.keys(content);
    if (types.length) {
      // Bytes (attachments): opaque, so only their media type can be checked.
      const type = (r.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
      if (!types.includes(type))
        throw new Error(`${where}: content-type ${type}, declared ${types.join(", ")}`);
      return;
    }
    if (r.body !== null)
      throw new Error(`${where}: declared without a body, but sent ${JSON.stringify(r.body)}`);
    return;
  }
  const type = r.headers.get("content-type") ?? "";
  if (!/^application\/json\b/.test(type)) throw new Error(`${where}: content-type ${type}, declared JSON`);
  const schema = json.schema as ZodType;
  const result = schema.safeParse(r.body);
  if (!result.success) throw new Error(`${where}: body is off its schema: ${result.error.message}`);
  const difference = firstDifference(r.body, result.data, "body");
  if (difference) throw new Error(`${where}: ${difference}`);
  if (schema === ErrorBody) {
    const code = (r.body as { code: string }).code;
    const codes = declaredCodes(declared);
    if (!codes.includes(code))
      throw new Error(`${where}: code ${code} is not among the declared ${codes.join(", ")}`);
  }
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Where the received JSON and what its schema made of it part: an undeclared key, above all. */
export function firstDifference(sent: unknown, parsed: unknown, path: string): string | null {
  if (Array.isArray(sent) && Array.isArray(parsed)) {
    if (sent.length !== parsed.length) return `${path} changed length when parsed`;
    for (const [i, item] of sent.entries()) {
      const d = firstDifference(item, parsed[i], `${path}[${i}]`);
      if (d) return d;
    }
    return null;
  }
  if (isPlainObject(sent) && isPlainObject(parsed)) {
    for (const key of Object.keys(sent)) {
      if (!(key in parsed)) return `undeclared field ${path}.${key}`;
    }
    for (const key of Object.keys(parsed)) {
      if (!(key in sent)) return `${path}.${key} was not sent; the schema filled it in`;
      const d = firstDifference(sent[key], parsed[key], `${path}.${key}`);
      if (d) return d;
    }
    return null;
  }
  return Object.is(sent, parsed)
    ? null
    : `${path} is ${JSON.stringify(sent)}, which its schema turns into ${JSON.stringify(parsed)}`;
}

/** Reads a fetch response the way `req` does: text, then JSON when it parses. */
export async function readBody(res: Response): Promise<unknown> {
  const text = await res.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** `fetch` for tests that cannot use the typed helper: the answer is checked all the same. */
export async function checkedFetch(check: Checker, url: string, init: RequestInit = {}) {
  const res = await fetch(url, init);
  const body = await readBody(res);
  const method = (init.method ?? "GET").toUpperCase();
  check({ method, url, status: res.status, headers: res.headers, body });
  return { status: res.status, headers: res.headers, body };
}
