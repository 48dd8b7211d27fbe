import { ed25519 } from "@noble/curves/ed25519.js";
import { bytesToNumberLE, numberToBytesLE } from "@noble/curves/utils.js";

export type KeyType = "ed25519" | "curve25519";

/** `bytes` are kept exactly as the client sent them: 32 for ed25519, 33 (0x05 || u) for curve25519. */
export interface IdentityKey {
  keyType: KeyType;
  bytes: Uint8Array;
}

const Point = ed25519.Point;
const Fp = Point.Fp;
const CURVE25519_PREFIX = 0x05;

/**
 * Edwards y for a Montgomery u (birational map y = (u-1)/(u+1)), or null if u is not a canonical
 * field element or is -1, which has no image.
 */
function montgomeryUToEdwardsY(uBytes: Uint8Array): bigint | null {
  const u = bytesToNumberLE(uBytes);
  if (u >= Fp.ORDER || u === Fp.ORDER - 1n) return null;
  return Fp.div(Fp.sub(u, Fp.ONE), Fp.add(u, Fp.ONE));
}

function edwardsEncoding(y: bigint, signBit: number): Uint8Array {
  const out = numberToBytesLE(y, 32);
  out[31] = (out[31]! & 0x7f) | (signBit << 7);
  return out;
}

// Low-order keys let anyone produce "valid" signatures, and noble's strict verify refuses them anyway.
function isUsablePoint(encoded: Uint8Array): boolean {
  try {
    return !Point.fromBytes(encoded, false).isSmallOrder();
  } catch {
    return false;
  }
}

export function parseIdentityKey(
  bytes: Uint8Array,
): { ok: true; key: IdentityKey } | { ok: false; reason: string } {
  if (bytes.length === 32) {
    if (!isUsablePoint(bytes)) return { ok: false, reason: "ed25519 key is not a valid curve point" };
    return { ok: true, key: { keyType: "ed25519", bytes: Uint8Array.from(bytes) } };
  }
  if (bytes.length === 33) {
    if (bytes[0] !== CURVE25519_PREFIX) return { ok: false, reason: "33-byte key must start with 0x05" };
    const y = montgomeryUToEdwardsY(bytes.subarray(1));
    // Either Edwards sign works for a valid u; 0 is what XEdDSA's calculate_key_pair produces.
    if (y === null || !isUsablePoint(edwardsEncoding(y, 0))) {
      return { ok: false, reason: "curve25519 key is not a valid curve point" };
    }
    return { ok: true, key: { keyType: "curve25519", bytes: Uint8Array.from(bytes) } };
  }
  return { ok: false, reason: `must be 32 or 33 bytes, got ${bytes.length}` };
}

/**
 * XEdDSA verification as libsignal does it: the Edwards sign bit of A travels in the top bit of
 * sig[63] (always 0 for spec-conformant signers, whose A has sign 0), so this accepts both.
 */
function verifyXEdDSA(keyBytes: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (keyBytes.length !== 33 || keyBytes[0] !== CURVE25519_PREFIX) return false;
  const y = montgomeryUToEdwardsY(keyBytes.subarray(1));
  if (y === null) return false;
  const sig = Uint8Array.from(signature);
  const signBit = sig[63]! >> 7;
  sig[63] = sig[63]! & 0x7f;
  return ed25519.verify(sig, message, edwardsEncoding(y, signBit), { zip215: false });
}

export function verifySignature(key: IdentityKey, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    if (signature.length !== 64) return false;
    if (key.keyType === "ed25519") {
      return key.bytes.length === 32 && ed25519.verify(signature, message, key.bytes, { zip215: false });
    }
    if (key.keyType === "curve25519") return verifyXEdDSA(key.bytes, message, signature);
    return false;
  } catch {
    return false;
  }
}
