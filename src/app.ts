import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { matchedRoutes } from "hono/route";
import { attachmentRoutes } from "./attachments/index.js";
import { authRoutes } from "./auth/index.js";
import { blockRoutes } from "./blocks/index.js";
import { contactRoutes } from "./contacts/index.js";
import { conversationRoutes } from "./conversations/index.js";
import { storeTimeouts } from "./db/store.js";
import {
  isStoreUnavailable,
  noteStoreTrouble,
  storeUnavailable,
  withinStoreBound,
} from "./db/unavailable.js";
import type { Deps } from "./deps.js";
import { deviceRoutes } from "./devices/index.js";
import { jsonBodies } from "./http/body.js";
import { AppError, errorBody } from "./http/errors.js";
import { apiBasics } from "./http/middleware.js";
import { requestIdOf } from "./http/observe.js";
import { type AppEnv, createRouter, requestDefaultsInWords } from "./http/openapi.js";
import { allowedMethods } from "./http/routing.js";
import { keyRoutes } from "./keys/index.js";
import { linkingRoutes } from "./linking/index.js";
import { messageRoutes } from "./messages/index.js";
import { docsRoutes } from "./ops/docs.js";
import { opsRoutes } from "./ops/index.js";
import { pushRoutes } from "./push/index.js";
import { asyncApiDocument } from "./realtime/asyncapi.js";
import { realtimeRoutes } from "./realtime/rest.js";
import { authGate, routeKey } from "./sessions/gate.js";
import { streamRoutes } from "./stream/index.js";
import { userRoutes } from "./users/index.js";

export const VERSION = "0.1.0";
const API = "/api/v1";

/** Builds the whole HTTP application from its dependencies; binds nothing. */
export function createApp(deps: Deps) {
  const { config } = deps;
  // No middleware for every path: request ids, security headers, the access log and metrics are
  // the HTTP server's (src/http/observe.ts), so GET /healthz runs its handler and nothing else.
  const app = createRouter();

  const api = createRouter();
  let publicRoutes: Set<string> | undefined; // from the declarations, once they are all registered
  // A store that stops answering costs a client at most this long, then a 503 (docs/durability.md).
  const storeBound = config.STORE_TIMEOUT_MS + storeTimeouts.selectionMs;
  api.use("*", (_c, next) => withinStoreBound(deps.store, storeBound, next()));
  api.use("*", apiBasics(config.TRUST_PROXY));
  api.use(
    "*",
    authGate(deps, () => {
      publicRoutes ??= declaredRoutes(api, (r) => Array.isArray(r.security) && r.security.length === 0);
      return publicRoutes;
    }),
  );
  // Routes declaring a non-JSON request body (attachment uploads) stream, limit and check their
  // own bodies; the JSON body reader skips them. Derived from the declarations, like the gate.
  let streamed: Set<string> | undefined;
  const ownsBody = (c: Context<AppEnv>) => {
    streamed ??= declaredRoutes(api, (r) => Object.keys(r.request?.body?.content ?? {}).some(notJson));
    const route = matchedRoutes(c).findLast((r) => r.method !== "ALL");
    return route !== undefined && streamed.has(routeKey(route.method, route.path));
  };
  // After the gate: a body is read only for a route that matched, and once its caller is known.
  const publicBytes = Math.min(config.PUBLIC_BODY_BYTES, config.MAX_BODY_BYTES);
  const bodies = jsonBodies({ maxBytes: (c) => (c.get("auth") ? config.MAX_BODY_BYTES : publicBytes) });
  api.use("*", (c, next) => (ownsBody(c) ? next() : bodies(c, next)));
  for (const routes of [
    authRoutes,
    userRoutes,
    deviceRoutes,
    linkingRoutes,
    keyRoutes,
    contactRoutes,
    blockRoutes,
    conversationRoutes,
    messageRoutes,
    attachmentRoutes,
    streamRoutes,
    realtimeRoutes,
    pushRoutes,
  ]) {
    api.route("/", routes(deps));
  }
  app.route("/", opsRoutes(deps, VERSION));
  app.route(API, api);

  app.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", {
    type: "http",
    scheme: "bearer",
    bearerFormat: "JWT",
    description: "The `session_token` from complete-signup, login verification or /auth/refresh.",
  });
  let spec: ReturnType<typeof openApiDocument> | undefined; // built on first request: routes are fixed by then
  app.get("/openapi.json", (c) => {
    spec ??= openApiDocument(app);
    return c.json(spec);
  });
  const asyncApi = asyncApiDocument(VERSION);
  app.get("/asyncapi.json", (c) => c.json(asyncApi));
  app.route("/", docsRoutes());

  app.notFound((c) => {
    const allow = allowedMethods(app, c.req.path);
    if (allow.length === 0 || allow.includes(c.req.method))
      throw new AppError("NOT_FOUND", "Route not found");
    const list = allow.join(", ");
    throw new AppError("METHOD_NOT_ALLOWED", `Use ${list} on this path`, undefined, { Allow: list });
  });
  app.onError((err, c) => {
    // A request its client abandoned (cut by the request timeout, or closed) is the client's doing,
    // not the server's error: one info line, no stack; the 408 goes nowhere but the access log.
    if (c.req.raw.signal.aborted || (err as NodeJS.ErrnoException).code === "ECONNRESET") {
      deps.logger.info("request abandoned by the client", { request_id: requestIdOf(c) });
      return c.body(null, 408);
    }
    noteStoreTrouble(deps.store, deps.clock.now(), err);
    const e = toAppError(err);
    if (e.code === "STORE_UNAVAILABLE") {
      deps.logger.warn("store unavailable", { request_id: requestIdOf(c), error: err });
    } else if (e.status >= 500) {
      deps.logger.error("request failed", { request_id: requestIdOf(c), error: err });
    }
    return c.json(errorBody(e), e.status, e.headers);
  });
  return app;
}

type Declared = Extract<
  OpenAPIHono<AppEnv>["openAPIRegistry"]["definitions"][number],
  { type: "route" }
>["route"];

/**
 * The API routes whose declaration matches, as the router names them. Public routes are those
 * declared with `security: []`: any other route needs a bearer token (secure by default).
 */
function declaredRoutes(api: OpenAPIHono<AppEnv>, which: (route: Declared) => boolean) {
  const keys = new Set<string>();
  for (const d of api.openAPIRegistry.definitions) {
    if (d.type === "route" && which(d.route)) {
      keys.add(routeKey(d.route.method, API + d.route.path.replace(/\{(\w+)\}/g, ":$1")));
    }
  }
  return keys;
}

const notJson = (mediaType: string) => !/^application\/([a-z.+-]*\+)?json$/i.test(mediaType);

function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (err instanceof HTTPException && err.status < 500) {
    // Hono's own validator: malformed JSON (a body is parsed only there, once).
    return new AppError(/json/i.test(err.message) ? "INVALID_JSON" : "VALIDATION_ERROR", err.message);
  }
  if (isStoreUnavailable(err)) return storeUnavailable();
  return new AppError("INTERNAL_ERROR");
}

export function openApiDocument(app: OpenAPIHono<AppEnv>) {
  const doc = app.getOpenAPI31Document({
    openapi: "3.1.0",
    info: {
      title: "Hush — HABIBTI v1 API",
      version: VERSION,
      description:
        "Zero-knowledge relay for end-to-end encrypted messaging. The server stores and forwards only " +
        "ciphertext, wrapped keys and public keys. Errors are `{detail, code, fields?}`.",
    },
    // Relative: clients resolve it against wherever they fetched this document, so Swagger UI's
    // "Try it out" calls the server that served it, on any host and port.
    servers: [{ url: "/", description: "The server this document was fetched from" }],
  });
  return requestDefaultsInWords(doc);
}
