import { z } from "@hono/zod-openapi";
import { curveKeyB64 } from "../devices/schemas.js";
import { base64 } from "../lib/base64.js";

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
