import { z } from "@hono/zod-openapi";
import { Timestamp, trimmed } from "../http/openapi.js";
import { base64Text, decodeBase64 } from "../lib/base64.js";
import { parseIdentityKey } from "./crypto.js";

/** Base64 of a key in either accepted format (see parseIdentityKey); the failure names the reason. */
export const curveKeyB64 = (description: string) =>
  base64Text(32, 33, "must be base64 of a 32- or 33-byte key")
    .superRefine((s, ctx) => {
      const bytes = decodeBase64(s);
      if (!bytes) return void ctx.addIssue({ code: "custom", message: "must be base64" });
      const parsed = parseIdentityKey(bytes);
      if (!parsed.ok) ctx.addIssue({ code: "custom", message: parsed.reason });
    })
    .openapi({ description });

/** A device identity key: raw 32-byte Ed25519, or Signal's 33-byte 0x05-prefixed Curve25519. */
export const IdentityKeyB64 = curveKeyB64(
  "Base64 of a raw 32-byte Ed25519 public key, or a 33-byte Curve25519 key starting with 0x05",
).openapi({ example: "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=" });

export const KeyType = z.enum(["ed25519", "curve25519"]).openapi("KeyType", {
  description: "`ed25519`: a raw 32-byte Ed25519 key; `curve25519`: Signal's 33-byte 0x05-prefixed key",
});

export const DeviceInfo = z
  .object({
    device_id: z
      .string()
      .regex(/^[A-Za-z0-9._:-]{1,64}$/, "must be 1-64 characters of letters, digits, . _ : -")
      .openapi({ example: "device-uuid" }),
    device_name: trimmed(1, 64).openapi({ example: "Chrome on Linux" }),
    public_key: IdentityKeyB64,
  })
  .openapi("DeviceInfo", { description: "The device signing up or logging in, and its identity key" });

/** Base64 of a 64-byte Ed25519 signature by the account key over the link statement. */
export const AccountSignature = base64Text(64, 64, "must be base64 of a 64-byte Ed25519 signature")
  .refine((s) => decodeBase64(s)?.length === 64, "must be base64 of a 64-byte Ed25519 signature")
  .openapi({
    description:
      "Ed25519 signature by the account key over the UTF-8 bytes of four lines joined by \\n, no trailing " +
      "newline: `hush-device-link-v1`, the device id, the key type, the identity key (base64, as sent)",
    example: "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBw==",
  });

/** An account key: a raw 32-byte Ed25519 public key (no Curve25519 form: it only signs). */
export const AccountKeyB64 = IdentityKeyB64.refine(
  (s) => decodeBase64(s)?.length === 32,
  "must be base64 of a raw 32-byte Ed25519 public key",
).openapi({ description: "The account key: base64 of a raw 32-byte Ed25519 public key" });

/** The first device at sign-up: its identity key and, on an account with an account key, its link. */
export const SignupDeviceInfo = z
  .object({
    ...DeviceInfo.shape,
    account_signature: AccountSignature.optional().openapi({
      description:
        "Required when the sign-up gives `public_key` (the account key): its signature of this device",
    }),
  })
  .openapi("SignupDeviceInfo", {
    description: "The device signing up, its identity key and its account signature",
  });

export const DeviceStatus = z.enum(["linked", "pending", "unsigned"]).openapi("DeviceStatus", {
  description:
    "`linked`: signed by the account key; `pending`: the account has a key that has not signed it (it gets " +
    "no message keys until a linked device approves it); `unsigned`: the account has no account key",
});

export const DeviceBody = z
  .object({
    device_id: z.string(),
    device_name: z.string(),
    key_type: KeyType,
    identity_key: z.string().openapi({ description: "The device's public identity key, base64" }),
    created_at: Timestamp,
    last_seen: Timestamp,
    status: DeviceStatus,
    account_signature: z.string().nullable().openapi({
      description: "The account key's signature linking the device (base64); null unless linked",
    }),
    current: z.boolean().optional().openapi({ description: "True for the device making the request" }),
  })
  .openapi("Device");

/** What every device list others read carries, so a client checks each device itself. */
export const linkFields = {
  account_signature: z.string().nullable().openapi({
    description: "The account key's signature linking the device (base64); null on a legacy account",
  }),
  account_key: z.string().nullable().openapi({
    description: "The owner's account key (base64 Ed25519); null: a legacy account, devices unsigned",
  }),
};
