import type { MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import { ObjectId } from "mongodb";
import type { Deps } from "../deps.js";
import { AppError } from "../http/errors.js";
import type { AppEnv, Auth } from "../http/openapi.js";
import { sessionForGate } from "./repo.js";

/**
 * Resolves a bearer access token to its user, device and session. The session is looked up on every
 * request so that a revoked session is refused at once, not when its token expires.
 */
export async function authenticate(deps: Deps, token: string): Promise<Auth> {
  const claims = await deps.tokens.verifyAccess(token);
  if (!ObjectId.isValid(claims.sessionId)) throw new AppError("UNAUTHORIZED");
  const session = await sessionForGate(deps, new ObjectId(claims.sessionId));
  if (
    !session ||
    session.suspended_at ||
    session.expires_at <= deps.clock.now() ||
    session.user_id.toHexString() !== claims.userId ||
    session.device_id !== claims.deviceId
  ) {
    throw new AppError("UNAUTHORIZED");
  }
  return { userId: session.user_id, deviceId: session.device_id, sessionId: session._id };
}

/** A route as the router names it: `GET /api/v1/users/:user_id`. */
export const routeKey = (method: string, path: string) => `${method.toUpperCase()} ${path}`;

/**
 * Requires a bearer token on every matched route whose declaration does not say `security: []`:
 * the routes' own declarations are the only list of what is public. Unmatched paths fall through
 * so that they get a 404 rather than a 401.
 */
export function authGate(deps: Deps, publicRoutes: () => ReadonlySet<string>): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const route = matchedRoutes(c).findLast((r) => r.method !== "ALL");
    if (!route || publicRoutes().has(routeKey(route.method, route.path))) return next();
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) throw new AppError("UNAUTHORIZED", "Missing bearer token");
    c.set("auth", await authenticate(deps, match[1]!));
    await next();
  };
}
