import type { MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import { ObjectId } from "mongodb";
import type { Deps } from "../deps.js";
import { AppError } from "../shared/errors.js";
import type { AppEnv, Auth } from "../shared/openapi.js";

/**
 * Resolves a bearer access token to its user, device and session. The session is looked up on every
 * request so that a revoked session is refused at once, not when its token expires.
 */
export async function authenticate(deps: Deps, token: string): Promise<Auth> {
  const claims = await deps.tokens.verifyAccess(token);
  if (!ObjectId.isValid(claims.sessionId)) throw new AppError("UNAUTHORIZED");
  const session = await deps.store.col.authSessions.findOne(
    { _id: new ObjectId(claims.sessionId) },
    { projection: { user_id: 1, device_id: 1, expires_at: 1 } },
  );
  if (
    !session ||
    session.expires_at <= deps.clock.now() ||
    session.user_id.toHexString() !== claims.userId ||
    session.device_id !== claims.deviceId
  ) {
    throw new AppError("UNAUTHORIZED");
  }
  return { userId: session.user_id, deviceId: session.device_id, sessionId: session._id };
}

/**
 * Every matched API route needs a bearer token except the listed public ones; unmatched paths
 * fall through so that they get a 404 rather than a 401.
 */
export function authGate(deps: Deps, publicPaths: string[]): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const route = matchedRoutes(c).findLast((r) => r.method !== "ALL");
    if (!route || publicPaths.includes(route.path)) return next();
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) throw new AppError("UNAUTHORIZED", "Missing bearer token");
    c.set("auth", await authenticate(deps, match[1]!));
    await next();
  };
}
