import { z } from "@hono/zod-openapi";
import { bearer, json, jsonBody, route } from "../http/openapi.js";
import { base64, decodeBase64 } from "../lib/base64.js";
import { isP256Point } from "./webpush.js";

const tags = ["Push"];

const p256Key = base64(65, 65).refine((s) => {
  const b = decodeBase64(s);
  return b !== null && isP256Point(b);
}, "must be an uncompressed P-256 public key (65 bytes, base64url)");

/** A Web Push subscription, as `PushSubscription.toJSON()` in a browser (or a UnifiedPush distributor) gives it. */
export const PushSubscriptionBody = z
  .object({
    endpoint: z
      .url({ protocol: /^https?$/, error: "must be an https:// URL" })
      .max(2048)
      .describe(
        "The push service's URL for this device. Must be https:// on a public host: private, loopback, " +
          "link-local, multicast and unspecified addresses are refused, here and again when a push is sent " +
          "(on the address actually connected to). http:// is accepted only where PUSH_ALLOW_PRIVATE is set " +
          "(development)",
      )
      .openapi({ example: "https://push.example.net/wpush/v2/gAAAAABl" }),
    keys: z
      .object({
        p256dh: p256Key.describe("The device's P-256 public key for payload encryption (RFC 8291)"),
        auth: base64(16, 16).describe("The device's 16-byte authentication secret (RFC 8291)"),
      })
      .strict()
      .openapi("PushKeys"),
  })
  .strict()
  .openapi("PushSubscription");

export const VapidKey = z
  .object({
    public_key: z
      .string()
      .describe(
        "The server's VAPID public key (uncompressed P-256 point, base64url): the `applicationServerKey` " +
          "to subscribe with",
      ),
  })
  .openapi("VapidKey");

export const putSubscription = route({
  method: "put",
  path: "/push/subscription",
  tags,
  security: bearer,
  operationId: "putPushSubscription",
  summary: "Set this device's Web Push subscription (replacing any earlier one)",
  description:
    "While this device has no WebSocket open on any server process, an entry worth waking it for " +
    "(a new message, a contact request or acceptance, a change to its own account's devices) makes the " +
    'server send one encrypted push to `endpoint`, holding only `{"v":1,"position":N}`; at most one ' +
    "until the device connects again or PUSH_MIN_INTERVAL_SECONDS pass. See docs/push.md.",
  request: jsonBody(PushSubscriptionBody, "The subscription from the push service"),
  responses: { 204: { description: "Stored" } },
});

export const deleteSubscription = route({
  method: "delete",
  path: "/push/subscription",
  tags,
  security: bearer,
  operationId: "deletePushSubscription",
  summary: "Remove this device's Web Push subscription; 204 whether or not it had one",
  description:
    "The device is not woken by push any more; any wake-up still owed to it is dropped with the " +
    "subscription. Removing the device, logging out its last session and deleting the account do this too.",
  responses: { 204: { description: "Removed" } },
});

export const getVapidKey = route({
  method: "get",
  path: "/push/vapid",
  tags,
  security: bearer,
  operationId: "getVapidKey",
  summary: "The server's VAPID public key, for subscribing to a push service",
  description:
    "Pass it as `applicationServerKey` when subscribing (a browser's `pushManager.subscribe`, a " +
    "UnifiedPush distributor's VAPID field): the push service then accepts only pushes this server " +
    "signed. The same key on every process and after every restart (VAPID_PRIVATE_KEY, or one kept " +
    "in the database).",
  responses: { 200: json(VapidKey, "The key") },
});
