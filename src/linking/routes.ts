import { z } from "@hono/zod-openapi";
import { AccountKeyB64, AccountSignature, DeviceBody, DeviceInfo } from "../devices/schemas.js";
import { bearer, json, jsonBody, route, Timestamp } from "../http/openapi.js";

/**
 * How long a requested account-key reset waits before it can be applied: long enough for the
 * account's owner to see the mail and the warning on a linked device and cancel it, short enough
 * that someone who lost every device is back within the week.
 */
export const KEY_RESET_WAIT_SECONDS = 72 * 3_600;

const DeviceIdParam = z.object({
  device_id: DeviceInfo.shape.device_id.openapi({ param: { in: "path" } }),
});

export const approveDevice = route({
  method: "post",
  path: "/devices/{device_id}/approve",
  tags: ["Devices"],
  security: bearer,
  operationId: "approveDevice",
  summary: "Link a pending device of the caller's account with the account key's signature",
  description:
    "Called by a linked device, after its owner compared the pending device's fingerprint (docs/devices.md). " +
    "`account_signature` is the account key's Ed25519 signature over the link statement of the pending " +
    "device (four lines joined by \\n: `hush-device-link-v1`, device id, key type, identity key). 400 " +
    "`INVALID_SIGNATURE` when it does not verify against the account key; 404 `NOT_FOUND` when the device " +
    "is not a pending device of the caller's account; 403 `FORBIDDEN` when the caller is pending itself. " +
    "The account's devices, its contacts and everyone sharing a conversation with it get a `devices_changed` " +
    "stream entry with the signed device.",
  request: {
    params: DeviceIdParam,
    ...jsonBody(z.object({ account_signature: AccountSignature }).openapi("ApproveDeviceRequest")),
  },
  responses: { 200: json(z.object({ device: DeviceBody }).openapi("ApprovedDevice"), "Linked") },
  errors: ["INVALID_SIGNATURE", "NOT_FOUND", "FORBIDDEN"],
});

export const KeyReset = z
  .object({
    effective_at: Timestamp,
    public_key: z.string().describe("The new account key (base64 Ed25519)"),
  })
  .openapi("AccountKeyReset");

export const requestReset = route({
  method: "post",
  path: "/account-key/reset",
  tags: ["Devices"],
  security: bearer,
  operationId: "requestAccountKeyReset",
  summary: "Ask to replace the account key (every device lost): applied after a waiting period",
  description:
    "Any device of the account may ask, pending ones included: a person who lost every device logs in by " +
    "emailed code and asks from there. `account_signature` is the new key's signature linking the calling " +
    `device. The reset waits ${KEY_RESET_WAIT_SECONDS / 3_600} hours (\`effective_at\`), is mailed to the ` +
    "account's address at once, and can be cancelled from any linked device meanwhile (DELETE). Then the " +
    "same device applies it (POST /account-key/reset/complete): every device is unlinked, the new key set, " +
    "and contacts and co-members get a `devices_changed` entry (`account_key_changed`): a safety-number " +
    "change. Setting a key on a legacy account without one is the same operation. A new request replaces " +
    "an earlier one. 409 `CONFLICT` when another account holds the key.",
  request: jsonBody(
    z
      .object({ public_key: AccountKeyB64, account_signature: AccountSignature })
      .openapi("AccountKeyResetRequest"),
  ),
  responses: { 202: json(KeyReset, "Requested; it can be applied from `effective_at`") },
  errors: ["INVALID_SIGNATURE", "CONFLICT"],
});

export const cancelReset = route({
  method: "delete",
  path: "/account-key/reset",
  tags: ["Devices"],
  security: bearer,
  operationId: "cancelAccountKeyReset",
  summary: "Cancel a requested account-key reset (a linked device, or the device that asked)",
  description:
    "Withdraws a reset requested with `POST /account-key/reset` before it takes effect: any linked " +
    "device of the account may cancel it, and so " +
    "may the device that asked. 404 when none is pending",
  responses: { 204: { description: "Cancelled" } },
  errors: ["NOT_FOUND", "FORBIDDEN"],
});

export const completeReset = route({
  method: "post",
  path: "/account-key/reset/complete",
  tags: ["Devices"],
  security: bearer,
  operationId: "completeAccountKeyReset",
  summary: "Apply a requested account-key reset once its waiting period is over",
  description:
    "Only the device that asked, from `effective_at` on (409 `INVALID_STATE` before, saying when); 404 " +
    "`NOT_FOUND` when no reset is waiting for this device. Answers the calling device, now the only linked one.",
  responses: { 200: json(z.object({ device: DeviceBody }).openapi("AccountKeyResetDone"), "Applied") },
  errors: ["NOT_FOUND", "INVALID_STATE", "CONFLICT"],
});
