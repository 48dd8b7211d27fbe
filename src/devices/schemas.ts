import { z } from "@hono/zod-openapi";
import { base64Text, decodeBase64 } from "../shared/base64.js";
import { Timestamp, trimmed } from "../shared/openapi.js";
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

export const DeviceBody = z
  .object({
    device_id: z.string(),
    device_name: z.string(),
    key_type: KeyType,
    identity_key: z.string().openapi({ description: "The device's public identity key, base64" }),
    created_at: Timestamp,
    last_seen: Timestamp,
    current: z.boolean().optional().openapi({ description: "True for the device making the request" }),
  })
  .openapi("Device");
