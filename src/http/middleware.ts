import { getConnInfo } from "@hono/node-server/conninfo";
import type { Context, MiddlewareHandler } from "hono";
import { clientAddressResolver, type TrustProxy } from "./client-ip.js";
import type { AppEnv } from "./openapi.js";

/**
 * What every API response shares: `Cache-Control: no-store` (responses carry tokens and personal
 * data that no cache between client and server may keep) and the client's address, resolved as
 * TRUST_PROXY says, for the per-IP budgets.
 */
export function apiBasics(trust: TrustProxy): MiddlewareHandler<AppEnv> {
  const resolve = clientAddressResolver(trust);
  return async (c, next) => {
    c.header("Cache-Control", "no-store");
    c.set("clientIp", resolve(peerOf(c), trust ? c.req.header("x-forwarded-for") : undefined));
    await next();
  };
}

function peerOf(c: Context): string | undefined {
  try {
    return getConnInfo(c).remote.address;
  } catch {
    return undefined; // not served by @hono/node-server (app.request in a unit test)
  }
}
