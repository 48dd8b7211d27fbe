import { z } from "@hono/zod-openapi";
import { decodeBase64, parseIdentityKey } from "../devices/crypto.js";

const B64_PATTERN = /^([A-Za-z0-9+/]*|[A-Za-z0-9_-]*)={0,2}$/;
const charsFor = (bytes: number) => ({
  unpadded: Math.ceil((bytes * 4) / 3),
  padded: Math.ceil(bytes / 3) * 4,
});

/**
 * Base64 (standard or URL alphabet, padded or not, canonical: see decodeBase64) of `minBytes` to
 * `maxBytes` bytes. The pattern and lengths are what a client can check; the byte count is exact.
 */
const base64Text = (minBytes: number, maxBytes: number, message: string) =>
  z
    .string()
    .min(charsFor(minBytes).unpadded, message)
    .max(charsFor(maxBytes).padded, message)
    .regex(B64_PATTERN, message);

export const base64 = (maxBytes: number, minBytes = 1) => {
  const message = `must be base64 of ${minBytes}-${maxBytes} bytes`;
  return base64Text(minBytes, maxBytes, message).refine((s) => {
    const b = decodeBase64(s);
    return b !== null && b.length >= minBytes && b.length <= maxBytes;
  }, message);
};

/** Base64 of a key in either accepted format (see parseIdentityKey); the failure names the reason. */
const curveKeyB64 = (description: string) =>
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

/** Signal's key ids are 24-bit. */
export const KeyId = z.number().int().min(0).max(0xffffff).openapi({ example: 1 });

/** An EC prekey: same two formats as an identity key (Signal sends 33-byte 0x05 keys). */
export const EcPublicKeyB64 = curveKeyB64(
  "Base64 of a 32-byte Ed25519 or 33-byte 0x05-prefixed Curve25519 public key",
);

/** Room for Kyber1024's 1568-byte key plus Signal's one-byte type prefix. */
const KEM_KEY_MAX_BYTES = 1600;
export const KemPublicKeyB64 = base64(KEM_KEY_MAX_BYTES, 32).openapi({
  description: `Base64 of an opaque KEM public key (32-${KEM_KEY_MAX_BYTES} bytes), e.g. Signal's 0x08 || Kyber1024`,
});
export const SignatureB64 = base64(64, 64).openapi({
  description:
    "Base64 of a 64-byte signature over the decoded public_key bytes by the device identity key: " +
    "Ed25519 for ed25519 identities, XEdDSA for curve25519 ones",
});

export const EcPrekey = z.object({ key_id: KeyId, public_key: EcPublicKeyB64 }).openapi("EcPrekey");
export const SignedEcPrekey = z
  .object({ key_id: KeyId, public_key: EcPublicKeyB64, signature: SignatureB64 })
  .openapi("SignedEcPrekey");
export const KemPrekey = z
  .object({ key_id: KeyId, public_key: KemPublicKeyB64, signature: SignatureB64 })
  .openapi("KemPrekey");

export const PrekeyCounts = z
  .object({
    one_time_prekeys: z
      .number()
      .int()
      .min(0)
      .openapi({ description: "Unclaimed one-time EC prekeys (Signal: count)" }),
    kem_prekeys: z
      .number()
      .int()
      .min(0)
      .openapi({ description: "Unclaimed one-time KEM prekeys (Signal: pqCount)" }),
  })
  .openapi("PrekeyCounts");
