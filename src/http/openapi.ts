import { createRoute, OpenAPIHono, type RouteConfig, type RouteHandler, z } from "@hono/zod-openapi";
import type { ObjectId } from "mongodb";
import type { ZodType } from "zod";
import { AppError, ErrorBody, type ErrorCode, type ErrorStatus, errorCodes, statusOf } from "./errors.js";
import { StaticRouteCache } from "./router.js";

/** What a request carries through the middleware chain. */
/** The caller, as resolved from its session by the auth gate. */
export interface Auth {
  userId: ObjectId;
  deviceId: string;
  sessionId: ObjectId;
}
export type AppEnv = { Variables: { auth: Auth; clientIp: string } };

/**
 * A capability's handlers, typed by the routes its routes.ts declares: one for each route (a
 * route without its handler, or a handler without its route, fails the typecheck).
 */
export type Handlers<Routes> = {
  [K in keyof Routes as Routes[K] extends RouteConfig ? K : never]: Routes[K] extends RouteConfig
    ? RouteHandler<Routes[K], AppEnv>
    : never;
};

/** Whether the input has nothing at `path` (a field left out, not one sent with a bad value). */
function absent(input: unknown, path: PropertyKey[]): boolean {
  let at = input;
  for (const key of path) {
    if (typeof at !== "object" || at === null || !(key in at)) return true;
    at = (at as Record<PropertyKey, unknown>)[key];
  }
  return at === undefined;
}

/**
 * Turns every zod failure into one VALIDATION_ERROR naming each bad field. A field left out is
 * "is required" (zod would say "expected string, received undefined", or NaN for a number in
 * the query string); `input` is what was parsed, when the caller has it.
 */
export function fieldErrors(error: z.ZodError, input?: unknown): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const issue of error.issues) {
    const key = issue.path.length ? issue.path.join(".") : "body";
    const missing =
      input !== undefined &&
      issue.code === "invalid_type" &&
      issue.path.length > 0 &&
      absent(input, issue.path);
    fields[key] ??= missing ? "is required" : issue.message;
  }
  return fields;
}

export const createRouter = () =>
  registerShared(
    new OpenAPIHono<AppEnv>({
      router: new StaticRouteCache(),
      defaultHook: (result) => {
        if (!result.success) {
          // @hono/zod-validator hands the hook the input it parsed as `data`; its type leaves it out.
          const fields = fieldErrors(result.error, (result as { data?: unknown }).data);
          const names = Object.entries(fields)
            .map(([name, message]) => (message === "is required" ? `\`${name}\` is required` : name))
            .join(", ");
          throw new AppError("VALIDATION_ERROR", `Invalid request data: ${names}`, fields);
        }
      },
    }),
  );

export const bearer = [{ bearerAuth: [] }];

export const jsonBody = <T extends ZodType>(schema: T, description = "JSON body") => ({
  body: { content: { "application/json": { schema } }, required: true, description },
});

export const json = <T extends ZodType>(schema: T, description: string) => ({
  content: { "application/json": { schema } },
  description,
});

// Schema pieces whose spelling in the spec matters to generated clients.

/** Timestamps are ISO 8601 in UTC, as `Date.toISOString()` writes them. */
export const Timestamp = z.iso.datetime().openapi({ example: "2026-01-19T02:00:00.000Z" });

/**
 * `schema | null` as a `oneOf` of the `$ref` and null: `.nullable()` on a registered schema comes
 * out as an `allOf` that null cannot satisfy, or makes the component itself nullable.
 */
export const orNull = <T extends ZodType>(schema: T) =>
  z.union([schema, z.null()]).openapi({}, { unionPreferredType: "oneOf" });

/**
 * A string the server trims before checking it. The pattern tells clients what the trimmed
 * length check means: a blank string is refused however long it is.
 */
export const trimmed = (min: number, max: number) =>
  z
    .string()
    .trim()
    .min(min)
    .max(max)
    .regex(
      min <= 1 ? /\S/ : new RegExp(`\\S[\\s\\S]{${min - 2},}\\S`),
      min <= 1 ? "must not be blank" : `must have at least ${min} characters besides surrounding spaces`,
    );

// Response headers: declared once as components and referenced, with the zod schema the
// conformance check applies to the received values.

export interface HeaderDef {
  description: string;
  schema: { type: "string"; pattern?: string; example?: string } | { type: "integer"; minimum: number };
  check: ZodType<string>;
}
export const integer = (minimum: number) => ({
  schema: { type: "integer" as const, minimum },
  check: z.string().regex(minimum > 0 ? /^[1-9]\d*$/ : /^\d+$/),
});
const requestId: Record<string, HeaderDef> = {
  "X-Request-Id": {
    description:
      "The request's id, also in the server's logs: a well-formed incoming X-Request-Id " +
      "(8-64 of A-Z a-z 0-9 . _ -), else a new UUID",
    schema: { type: "string" },
    check: z.string().min(1),
  },
};
const limits: Record<string, HeaderDef> = {
  "X-RateLimit-Limit": { description: "Requests allowed in the current window", ...integer(0) },
  "X-RateLimit-Remaining": { description: "Requests left in the current window", ...integer(0) },
  "X-RateLimit-Reset": {
    description: "When the current window ends, in Unix seconds; on a 429, the moment Retry-After names",
    ...integer(0),
  },
};
const retryAfter: Record<string, HeaderDef> = {
  "Retry-After": { description: "Seconds to wait before retrying", ...integer(1) },
};
const sharedHeaders = { ...requestId, ...limits, ...retryAfter };
/** Header names the conformance check treats as the rate-limit family: present only where declared. */
export const rateLimitHeaders = [...Object.keys(limits), ...Object.keys(retryAfter)];

/** Headers by name; `inline` ones are written out in the response rather than as a shared component. */
type HeaderSet = Record<string, { def: HeaderDef; required: boolean; inline?: boolean }>;
const all = (defs: Record<string, HeaderDef>, required: boolean): HeaderSet =>
  Object.fromEntries(Object.entries(defs).map(([name, def]) => [name, { def, required }]));

const unsatisfiedRange: HeaderSet = {
  "Content-Range": {
    def: {
      description: "`bytes */<size>`: the size of the representation the range was asked of",
      schema: { type: "string", pattern: "^bytes \\*/\\d+$", example: "bytes */1048576" },
      check: z.string().regex(/^bytes \*\/\d+$/),
    },
    required: true,
    inline: true,
  },
};

/**
 * Every response carries X-Request-Id. On a rate-limited route the limit headers come with every
 * answer the limiter saw (successes and 429s, which add Retry-After); earlier failures (bad input,
 * no token) happen before it counts, so there they may be missing. A 416 says the size it was
 * measured against in Content-Range, as HTTP asks. A 503 (store trouble) says when to retry.
 */
function headersFor(status: number, rateLimited: boolean): HeaderSet {
  const own = status === 416 ? unsatisfiedRange : status === 503 ? all(retryAfter, true) : {};
  if (!rateLimited) return { ...all(requestId, true), ...own };
  if (status < 400) return { ...all(requestId, true), ...all(limits, true) };
  if (status === 429) return { ...all(requestId, true), ...all(limits, true), ...all(retryAfter, true) };
  return { ...all(requestId, true), ...all(limits, false), ...own };
}

/** The component of a shared header that is there only when the limiter counted the request. */
const whenCounted = (name: string) => `${name}.when-counted`;

/** The spec's side of a header set: `$ref`s to the shared components, a response's own inline. */
function headerObjects(set: HeaderSet) {
  return Object.fromEntries(
    Object.entries(set).map(([name, { def, required, inline }]) => [
      name,
      inline
        ? { description: def.description, required, schema: def.schema }
        : { $ref: `#/components/headers/${required ? name : whenCounted(name)}` },
    ]),
  );
}

// The conformance check's side, kept off the spec: each declared response's header schemas.
const headerChecks = new WeakMap<object, ZodType>();
/** The zod schema of the headers `route()` declared for a response. */
export const declaredHeaders = (response: object) => headerChecks.get(response);

// Headers a response declares for itself (`binary`), merged with the shared ones by `route()`.
const ownHeaders = new WeakMap<object, HeaderSet>();

function withHeaders<T extends object>(response: T, shared: HeaderSet) {
  const set = { ...shared, ...ownHeaders.get(response) };
  const declared = { ...response, headers: headerObjects(set) };
  const shape = Object.fromEntries(
    Object.entries(set).map(([name, { def, required }]) => [
      name,
      required ? def.check : def.check.optional(),
    ]),
  );
  headerChecks.set(declared, z.object(shape));
  return declared;
}

/**
 * Registers the shared components: the headers, and one example error body per code. Every
 * router does it (they are merged into the app's registry); the spec keeps one of each.
 */
function registerShared(router: OpenAPIHono<AppEnv>) {
  const registry = router.openAPIRegistry;
  for (const [name, def] of Object.entries(sharedHeaders)) {
    registry.registerComponent("headers", name, {
      description: def.description,
      required: true,
      schema: def.schema,
    });
  }
  // Error answers of rate-limited routes: one shared table rather than the same three headers
  // written out under every status of every such operation.
  for (const [name, def] of Object.entries(limits)) {
    registry.registerComponent("headers", whenCounted(name), {
      description: `${def.description}; present when the limiter counted the request`,
      required: false,
      schema: def.schema,
    });
  }
  for (const [code, [, detail]] of Object.entries(errorCodes)) {
    registry.registerComponent("examples", code, { summary: code, value: { detail, code } });
  }
  return router;
}

/** A header a response declares for itself, with the check the tests apply to received values. */
export interface OwnHeader extends HeaderDef {
  required: boolean;
}

/**
 * A response whose body is bytes (an attachment), in one or more media types, with the headers it
 * declares for itself (Content-Length, ETag, Content-Range...).
 */
export function binary(description: string, types: string[], headers: Record<string, OwnHeader> = {}) {
  const response = {
    description,
    content: Object.fromEntries(
      types.map((t) => [t, { schema: { type: "string" as const, format: "binary" } }]),
    ),
  };
  ownHeaders.set(
    response,
    Object.fromEntries(
      Object.entries(headers).map(([name, def]) => [name, { def, required: def.required, inline: true }]),
    ),
  );
  return response;
}

const statusText: Record<ErrorStatus, string> = {
  400: "Bad input; `fields` names each bad field",
  401: "Missing, invalid, expired or revoked token",
  403: "Not allowed",
  404: "Not found",
  405: "Method not allowed on this path; `Allow` lists the methods it has",
  409: "Conflict with the current state",
  410: "Gone: what the request was built on has changed",
  413: "Body larger than the server's limit",
  415:
    "Body is not of the declared media type (JSON, unless the operation's request body says otherwise; " +
    "a body must be JSON even where none is expected)",
  416: "Range not satisfiable; Content-Range gives the size",
  426: "Not a WebSocket handshake",
  429: "Rate limited; see Retry-After and the X-RateLimit-* headers",
  500: "Unexpected failure, logged with the request id; the body is only the generic message",
  503: "The database is unreachable, too slow or cannot write: retry after Retry-After seconds (docs/durability.md)",
};

/** One response per status, listing its codes in the description and as named examples. */
function errorResponses(codes: ErrorCode[], rateLimited: boolean) {
  const byStatus = new Map<ErrorStatus, ErrorCode[]>();
  for (const code of codes) byStatus.set(statusOf(code), [...(byStatus.get(statusOf(code)) ?? []), code]);
  return Object.fromEntries(
    [...byStatus].map(([status, list]) => [
      status,
      withHeaders(
        {
          description: `${statusText[status]}. Codes: ${list.map((c) => `\`${c}\``).join(", ")}`,
          content: {
            "application/json": {
              schema: ErrorBody,
              examples: Object.fromEntries(
                list.map((code) => [code, { $ref: `#/components/examples/${code}` }]),
              ),
            },
          },
        },
        headersFor(status, rateLimited),
      ),
    ]),
  );
}

/** The OpenAPI extension of a route declared `sessionAlongside` (the auth gate reads it). */
export const SESSION_ALONGSIDE = "x-session-checked-alongside";

/** The codes an error response declares: the names of its examples (see `errorResponses`). */
export const declaredCodes = (response: { content?: Record<string, { examples?: object }> }) =>
  Object.keys(response.content?.["application/json"]?.examples ?? {});

/**
 * `createRoute` plus what every route shares. `errors` lists the codes the route's own work can
 * produce; added to them: VALIDATION_ERROR where there are params, a query or a body;
 * INVALID_JSON, 413 and 415 on any method but GET (the body checks run before routing);
 * UNAUTHORIZED where a bearer token is required; INTERNAL_ERROR everywhere; STORE_UNAVAILABLE
 * (503, Retry-After) on every route that touches the store, which is every route that does not say
 * `store: false`. A route that can answer 429 is rate-limited and declares the rate-limit headers.
 * Public routes say `security: []`. A route that only reads may say `sessionAlongside: true`: the
 * auth gate then runs it alongside the lookup of the caller's session (sessions/gate.ts); the
 * declaration says so to clients as the OpenAPI extension `x-session-checked-alongside`.
 */
export function route<
  const R extends RouteConfig & {
    errors?: readonly ErrorCode[];
    /** Required: `bearer`, or `[]` for a public route. The auth gate reads it; nothing is public by omission. */
    security: NonNullable<RouteConfig["security"]>;
    /** False for the few routes that never touch the store (banner, liveness, metrics, readiness, which answers its own 503). */
    store?: false;
    /** True for a route that writes nothing: it runs while the caller's session is looked up. */
    sessionAlongside?: true;
  },
>(config: R) {
  const { errors: own = [], store, sessionAlongside, ...rest } = config;
  const codes = new Set<ErrorCode>();
  const { request } = rest;
  if (request?.params || request?.query || request?.body) codes.add("VALIDATION_ERROR");
  if (rest.method !== "get") {
    for (const c of ["INVALID_JSON", "PAYLOAD_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE"] as const) codes.add(c);
  }
  if (rest.security?.length) codes.add("UNAUTHORIZED");
  for (const c of own) codes.add(c);
  codes.add("INTERNAL_ERROR");
  if (store !== false) codes.add("STORE_UNAVAILABLE");
  const order = Object.keys(errorCodes);
  const sorted = [...codes].sort((a, b) => order.indexOf(a) - order.indexOf(b));
  const rateLimited = sorted.some((c) => statusOf(c) === 429);
  const responses = Object.fromEntries(
    Object.entries(rest.responses).map(([status, r]) => [
      status,
      withHeaders(r, headersFor(Number(status), rateLimited)),
    ]),
  );
  return createRoute({
    ...rest,
    ...(sessionAlongside ? { [SESSION_ALONGSIDE]: true } : {}),
    security: rest.security,
    responses: { ...responses, ...errorResponses(sorted, rateLimited) },
  }) as unknown as ReturnType<
    typeof createRoute<R["path"], Omit<R, "errors" | "store" | "sessionAlongside">>
  >;
}

type Schemas = Record<string, { properties?: Record<string, { default?: unknown; description?: string }> }>;

/**
 * Defaults of request bodies' fields are said in words rather than as `default`: openapi-typescript
 * makes a field with a `default` required in a component schema (it reads one as what a response
 * always has), so a client would have to send `is_ephemeral`. The field stays optional, as the
 * server treats it.
 */
export function requestDefaultsInWords<T extends { paths?: object; components?: object }>(doc: T): T {
  const schemas = (doc.components as { schemas?: Schemas } | undefined)?.schemas ?? {};
  const bodies = new Set(
    [
      ...JSON.stringify(doc.paths).matchAll(/"requestBody":\{[^}]*?"\$ref":"#\/components\/schemas\/(\w+)"/g),
    ].map((m) => m[1]!),
  );
  for (const name of bodies) {
    for (const field of Object.values(schemas[name]?.properties ?? {})) {
      if (!("default" in field)) continue;
      const said = `Default when left out: \`${JSON.stringify(field.default)}\`.`;
      field.description = field.description ? `${field.description.replace(/\.?$/, ".")} ${said}` : said;
      delete field.default;
    }
  }
  return doc;
}
