import type { IncomingMessage, ServerResponse } from "node:http";
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { matchedRoutes } from "hono/route";
import { storeTimeouts } from "./db/store.js";
import {
  isStoreUnavailable,
  noteStoreTrouble,
  storeUnavailable,
  withinStoreBound,
} from "./db/unavailable.js";
import type { Deps } from "./deps.js";
import { jsonBodies } from "./http/body.js";
import { AppError, errorBody } from "./http/errors.js";
import { apiBasics } from "./http/middleware.js";
import { observeRequests, requestIdOf, routeNamer } from "./http/observe.js";
import { type AppEnv, SESSION_ALONGSIDE } from "./http/openapi.js";
import { HushResponse } from "./http/response.js";
import { allowedMethods } from "./http/routing.js";
import { probePaths } from "./ops/routes.js";
import { authGate, routeKey } from "./sessions/gate.js";

/*
 * What every request gets, in the order it happens: the one page to read for "what happens to a
 * request besides its handler?". Three installers, each named where it is installed:
 *
 * At Node's HTTP server, before Hono sees the request (`atTheServer`, installed by server.ts):
 *   1. its request id: a sane incoming `X-Request-Id`, else a fresh UUID (http/observe.ts);
 *      whether it announced a body; its clock starts.
 * In the app, for the API routes under /api/v1 (`beforeTheApi`, installed by app.ts), once the
 * router has matched the route (http/router.ts):
 *   2. the store bound: a store that stops answering costs the client a 503, not a hang;
 *   3. `Cache-Control: no-store` and the client's address, as TRUST_PROXY says (http/middleware.ts);
 *   4. the auth gate: a bearer token unless the route is declared `security: []`; the session is
 *      looked up before the route runs, or alongside it for a route declared `sessionAlongside`
 *      (sessions/gate.ts);
 *   5. its JSON body, read within its size limit, except for routes that stream their own
 *      (http/body.ts);
 *   6. the route's own validation (its zod contract) and its handler.
 * When it ends in an error or matches nothing (`answerErrors`, installed by app.ts):
 *   7. one `{detail, code}` body for every error (http/errors.ts); 404, or 405 with `Allow`; a
 *      request the client abandoned is no server error.
 * As its response head goes out, in the one `writeHead` call (http/response.ts):
 *   8. `X-Request-Id` and the security headers (hono/secure-headers' own list); `Connection: close`
 *      when the request's body was not read to its end;
 *   9. the access log line and the request metrics, by route pattern (http/observe.ts).
 *
 * Steps 1, 8 and 9 run at the server rather than as Hono middleware for speed: a request then pays
 * for no middleware chain or Headers object (GET /healthz went from 0.69x to 0.82-0.88x bare Hono).
 */

type Listener = (req: IncomingMessage, res: ServerResponse) => unknown;

/**
 * Steps 1, 8 and 9: the response class Node's server must build (it writes the headers and tells
 * the access log) and the listener that gives each request its id and start time.
 */
// biome-ignore lint/suspicious/noExplicitAny: any Hono app, whatever its env
export function atTheServer(deps: Deps, app: OpenAPIHono<any, any, any>, listener: Listener) {
  return {
    ServerResponse: HushResponse as typeof ServerResponse,
    listener: observeRequests(listener, { ...deps, routeOf: routeNamer(app), quiet: new Set(probePaths) }),
  };
}

/** Steps 2 to 5, on the API router mounted at `prefix`, in that order. */
export function beforeTheApi(api: OpenAPIHono<AppEnv>, deps: Deps, prefix: string) {
  const { config } = deps;
  // From the declarations, once they are all registered.
  let publicRoutes: Set<string> | undefined;
  let alongside: Set<string> | undefined;
  // A store that stops answering costs a client at most this long, then a 503 (docs/durability.md).
  const storeBound = config.STORE_TIMEOUT_MS + storeTimeouts.selectionMs;
  api.use("*", (_c, next) => withinStoreBound(deps.store, storeBound, next()));
  api.use("*", apiBasics(config.TRUST_PROXY));
  api.use(
    "*",
    authGate(
      deps,
      () => {
        publicRoutes ??= declaredRoutes(
          api,
          prefix,
          (r) => Array.isArray(r.security) && r.security.length === 0,
        );
        return publicRoutes;
      },
      () => {
        alongside ??= declaredRoutes(api, prefix, (r) => r[SESSION_ALONGSIDE] === true);
        return alongside;
      },
    ),
  );
  // Routes declaring a non-JSON request body (attachment uploads) stream, limit and check their
  // own bodies; the JSON body reader skips them. Derived from the declarations, like the gate.
  let streamed: Set<string> | undefined;
  const ownsBody = (c: Context<AppEnv>) => {
    streamed ??= declaredRoutes(api, prefix, (r) =>
      Object.keys(r.request?.body?.content ?? {}).some(notJson),
    );
    const route = matchedRoutes(c).findLast((r) => r.method !== "ALL");
    return route !== undefined && streamed.has(routeKey(route.method, route.path));
  };
  // After the gate: a body is read only for a route that matched, and once its caller is known.
  const publicBytes = Math.min(config.PUBLIC_BODY_BYTES, config.MAX_BODY_BYTES);
  const bodies = jsonBodies({ maxBytes: (c) => (c.get("auth") ? config.MAX_BODY_BYTES : publicBytes) });
  api.use("*", (c, next) => (ownsBody(c) ? next() : bodies(c, next)));
}

/** Step 7, for every route of the app: unknown paths and methods, and every error, answered alike. */
export function answerErrors(app: OpenAPIHono<AppEnv>, deps: Deps) {
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
}

type Declared = Extract<
  OpenAPIHono<AppEnv>["openAPIRegistry"]["definitions"][number],
  { type: "route" }
>["route"];

/**
 * The API routes whose declaration matches, as the router names them. Public routes are those
 * declared with `security: []`: any other route needs a bearer token (secure by default).
 */
function declaredRoutes(api: OpenAPIHono<AppEnv>, prefix: string, which: (route: Declared) => boolean) {
  const keys = new Set<string>();
  for (const d of api.openAPIRegistry.definitions) {
    if (d.type === "route" && which(d.route)) {
      keys.add(routeKey(d.route.method, prefix + d.route.path.replace(/\{(\w+)\}/g, ":$1")));
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
