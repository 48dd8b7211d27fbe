import type { Deps } from "../deps.js";
import { AppError } from "../http/errors.js";
import type { Handlers } from "../http/openapi.js";
import { decodeBase64 } from "../lib/base64.js";
import { isPublicHost } from "../lib/public-url.js";
import { removeSubscription, saveSubscription, vapidPrivateKey } from "./repo.js";
import type * as r from "./routes.js";
import { vapidPublicKey } from "./webpush.js";

const toBase64url = (s: string) => Buffer.from(decodeBase64(s)!).toString("base64url");

/**
 * Whether the server may push to this endpoint: https on a public host, unless PUSH_ALLOW_PRIVATE
 * (refused in production) lets development use http:// and loopback. A host that resolves to a
 * private address is refused when the push is sent, where the address is known (src/push/post.ts).
 */
function checkEndpoint(deps: Deps, endpoint: string) {
  if (deps.config.PUSH_ALLOW_PRIVATE) return;
  const url = new URL(endpoint);
  const problem =
    url.protocol !== "https:"
      ? "must be an https:// URL"
      : !isPublicHost(url.hostname)
        ? "must not point at a private, loopback or link-local address"
        : null;
  if (problem)
    throw new AppError("VALIDATION_ERROR", `Invalid request data: endpoint`, { endpoint: problem });
}

/** The handlers of the routes in ./routes.ts, typed by them; ./index.ts wires them. */
export function pushHandlers(deps: Deps): Handlers<typeof r> {
  return {
    putSubscription: async (c) => {
      const auth = c.get("auth");
      const { endpoint, keys } = c.req.valid("json");
      checkEndpoint(deps, endpoint);
      await saveSubscription(deps, auth.userId, auth.deviceId, {
        endpoint,
        p256dh: toBase64url(keys.p256dh),
        auth: toBase64url(keys.auth),
      });
      return c.body(null, 204);
    },
    deleteSubscription: async (c) => {
      const auth = c.get("auth");
      await removeSubscription(deps, auth.userId, auth.deviceId);
      return c.body(null, 204);
    },
    getVapidKey: async (c) => c.json({ public_key: vapidPublicKey(await vapidPrivateKey(deps)) }, 200),
  };
}
