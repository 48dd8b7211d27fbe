import { z } from "@hono/zod-openapi";
import { DeviceInfo, KeyType, linkFields } from "../devices/schemas.js";
import { bearer, json, jsonBody, orNull, route } from "../http/openapi.js";
import { Id } from "../users/schemas.js";
import { EcPrekey, KemPrekey, PrekeyCounts, SignedEcPrekey } from "./schemas.js";

const MAX_UPLOAD = 100;
export const PREKEY_STOCK = 500;
export const claimRule = { name: "keys-claim", limit: 100, windowSeconds: 60 };
/** One-time prekeys one device hands out a day, whoever claims: the rate its stock can be drained at. */
export const deviceClaimRule = {
  name: "keys-claim-device",
  limit: 100,
  windowSeconds: 86_400,
  scope: "target" as const,
};
/**
 * A device is told (a `prekeys_low` stream entry) when a claim leaves either kind below this many,
 * which is what a day of claims can take, or when its daily claim budget is spent: at most once an
 * hour for each reason, however many claims follow.
 */
export const PREKEY_LOW_MARK = deviceClaimRule.limit;
export const lowNoticeRule = {
  name: "keys-low-notice",
  limit: 1,
  windowSeconds: 3_600,
  scope: "target" as const,
};
const tags = ["Keys"];

/** Duplicate key ids inside one upload are a 400 naming the second entry. */
const uniqueIds = <T extends z.ZodType<{ key_id: number }>>(item: T) =>
  z
    .array(item)
    .max(MAX_UPLOAD)
    .superRefine((keys, ctx) => {
      const seen = new Set<number>();
      keys.forEach((k, i) => {
        if (seen.has(k.key_id))
          ctx.addIssue({ code: "custom", path: [i, "key_id"], message: "duplicate key_id" });
        seen.add(k.key_id);
      });
    })
    .openapi({
      description:
        `At most ${MAX_UPLOAD}. Each \`key_id\` at most once: a repeated one is a 400 \`VALIDATION_ERROR\` ` +
        "whose `fields` name the repeat (e.g. `one_time_prekeys.3.key_id`).",
    });

export const UploadKeys = z
  .object({
    registration_id: z.number().int().min(1).max(16380).optional(),
    signed_prekey: SignedEcPrekey.optional(),
    one_time_prekeys: uniqueIds(EcPrekey).optional(),
    kem_prekeys: uniqueIds(KemPrekey).optional(),
    kem_last_resort_prekey: KemPrekey.optional(),
  })
  .strict()
  .refine((b) => Object.keys(b).length > 0, { message: "name at least one key to upload" })
  .openapi("UploadKeysRequest", { minProperties: 1 });

export const uploadKeys = route({
  method: "put",
  path: "/keys",
  tags,
  security: bearer,
  operationId: "uploadKeys",
  summary: "Upload the calling device's registration id, signed prekey and one-time prekeys",
  description:
    "Every signature (signed prekey, each KEM prekey, the last-resort KEM prekey) must verify against the " +
    "device identity key over the decoded `public_key` bytes, or the whole upload is refused with " +
    "`INVALID_SIGNATURE` naming the entry and nothing is stored. `registration_id`, `signed_prekey` and " +
    "`kem_last_resort_prekey` replace the stored ones. One-time prekeys are added: a `key_id` already " +
    `stored for this device and kind is a 409 \`CONFLICT\`, and each kind holds at most ${PREKEY_STOCK} ` +
    `unclaimed keys (409 \`PREKEY_LIMIT_REACHED\`); at most ${MAX_UPLOAD} of each kind per upload, each ` +
    "`key_id` once. An empty body is refused. 409 `INVALID_STATE` when the device is removed or re-keyed " +
    "during the upload.",
  request: jsonBody(UploadKeys),
  responses: { 200: json(PrekeyCounts, "Unclaimed one-time prekeys now stored") },
  errors: ["INVALID_SIGNATURE", "CONFLICT", "PREKEY_LIMIT_REACHED", "INVALID_STATE"],
});

export const countKeys = route({
  method: "get",
  path: "/keys/count",
  tags,
  security: bearer,
  operationId: "countKeys",
  summary: "How many unclaimed one-time prekeys the calling device has left",
  description:
    "The signal for a device to top up: upload more when either count falls below what a day of claims " +
    `can take (${deviceClaimRule.limit}); claims beyond that get no one-time keys, so a device that keeps at ` +
    "least that many never runs dry, however many accounts claim from it. Check it at start-up and after " +
    "new sessions arrive; a count falling faster than the device's own new sessions explain means someone " +
    "is claiming its keys. The device's stream also carries a `prekeys_low` entry when a claim leaves " +
    `fewer than ${deviceClaimRule.limit} of a kind it stocks, or finds its daily claim budget spent.`,
  responses: { 200: json(PrekeyCounts, "Counts") },
});

export const ClaimKeys = z
  .object({ user_id: Id, device_id: DeviceInfo.shape.device_id.optional() })
  .strict()
  .openapi("ClaimKeysRequest");

// Spelled out rather than KemPrekey.extend(): an extended schema comes out as an allOf.
const ClaimedKemPrekey = z
  .object({
    ...KemPrekey.shape,
    last_resort: z.boolean().openapi({ description: "True when no one-time KEM prekey was left" }),
  })
  .openapi("ClaimedKemPrekey");

const ClaimedDevice = z
  .object({
    device_id: z.string(),
    key_type: KeyType,
    registration_id: z.number().int().nullable(),
    identity_key: z.string(),
    signed_prekey: orNull(SignedEcPrekey).openapi({ description: "Null until the device uploads one" }),
    one_time_prekey: orNull(EcPrekey).openapi({
      description: "Null when none is left or there is no signed prekey",
    }),
    kem_prekey: orNull(ClaimedKemPrekey).openapi({
      description: "A one-time KEM prekey, else the last-resort one, else null",
    }),
    ...linkFields,
  })
  .openapi("ClaimedDevice");

export const claimKeys = route({
  method: "post",
  path: "/keys/claim",
  tags,
  security: bearer,
  operationId: "claimKeys",
  summary: "Take a prekey bundle for one or every device of a user",
  description:
    "Each one-time prekey is handed out once and then deleted. A device without a signed prekey cannot " +
    "start a session, so its one-time prekeys are not spent: its keys come back null. A named device " +
    "that does not exist is a 404 `NOT_FOUND`; a user who has blocked the caller looks absent (404 " +
    `\`USER_NOT_FOUND\`). Limited to ${claimRule.limit} claims a minute per calling account. Each device hands ` +
    `out at most ${deviceClaimRule.limit} one-time prekeys a day, whoever claims: past that a claim still gets ` +
    "the signed prekey and the last-resort KEM key, but `one_time_prekey` null, so that nobody can drain a " +
    "device's stock. A device learns how many keys it has left from GET /keys/count (see its description).",
  request: jsonBody(ClaimKeys),
  responses: {
    200: json(z.object({ devices: z.array(ClaimedDevice) }).openapi("KeyBundles"), "One bundle per device"),
  },
  errors: ["NOT_FOUND", "USER_NOT_FOUND", "RATE_LIMITED"],
});
