import type { MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import { ObjectId } from "mongodb";
import type { Deps } from "../deps.js";
import { AppError } from "../http/errors.js";
import type { AppEnv, Auth } from "../http/openapi.js";
import { together } from "../lib/together.js";
import { sessionForGate } from "./repo.js";

/** The caller a verified access token names, before its session is looked up. */
async function claimed(deps: Deps, token: string): Promise<Auth> {
  const claims = await deps.tokens.verifyAccess(token);
  if (!ObjectId.isValid(claims.sessionId) || !ObjectId.isValid(claims.userId)) {
    throw new AppError("UNAUTHORIZED");
  }
  return {
    userId: new ObjectId(claims.userId),
    deviceId: claims.deviceId,
    sessionId: new ObjectId(claims.sessionId),
  };
}

/** Refuses a caller whose session is gone, suspended, expired or not the token's user and device. */
async function live(deps: Deps, auth: Auth): Promise<void> {
  const session = await sessionForGate(deps, auth.sessionId);
  if (
    !session ||
    session.suspended_at ||
    session.expires_at <= deps.clock.now() ||
    !session.user_id.equals(auth.userId) ||
    session.device_id !== auth.deviceId
  ) {
    throw new AppError("UNAUTHORIZED");
  }
}

/**
 * Resolves a bearer access token to its user, device and session. The session is looked up on every
 * request so that a revoked session is refused at once, not when its token expires.
 */
export async function authenticate(deps: Deps, token: string): Promise<Auth> {
  const auth = await claimed(deps, token);
  await live(deps, auth);
  return auth;
}

/** A route as the router names it: `GET /api/v1/users/:user_id`. */
export const routeKey = (method: string, path: string) => `${method.toUpperCase()} ${path}`;

/**
 * Requires a bearer token on every matched route whose declaration does not say `security: []`:
 * the routes' own declarations are the only list of what is public. Unmatched paths fall through
 * so that they get a 404 rather than a 401.
 *
 * A route declared `sessionAlongside` (one that only reads) runs alongside its session's lookup,
 * as the token's verified claims name the caller, rather than after it: the session costs the
 * request no wait of its own. Whatever the route answered is replaced by 401 if the session is not
 * live, so a revoked session still reads nothing.
 */
export function authGate(
  deps: Deps,
  publicRoutes: () => ReadonlySet<string>,
  alongside: () => ReadonlySet<string>,
): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const route = matchedRoutes(c).findLast((r) => r.method !== "ALL");
    if (!route) return next();
    const key = routeKey(route.method, route.path);
    if (publicRoutes().has(key)) return next();
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) throw new AppError("UNAUTHORIZED", "Missing bearer token");
    if (!alongside().has(key)) {
      c.set("auth", await authenticate(deps, match[1]!));
      return next();
    }
    const auth = await claimed(deps, match[1]!);
    c.set("auth", auth);
    await together(live(deps, auth), next());
  };
}
