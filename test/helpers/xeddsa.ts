// Test-only XEdDSA signer, written from https://signal.org/docs/specifications/xeddsa/ so the
// verifier in src/keys/crypto.ts is checked against the spec rather than against itself.
import { ed25519, x25519 } from "@noble/curves/ed25519.js";
import { bytesToNumberLE, concatBytes, numberToBytesLE, randomBytes } from "@noble/curves/utils.js";
import { sha512 } from "@noble/hashes/sha2.js";

const Point = ed25519.Point;
const Fp = Point.Fp;
const Fn = Point.Fn;

/** X25519 clamping; x25519.getPublicKey applies the same to the raw key. */
export function clampScalar(k: Uint8Array): bigint {
  const c = Uint8Array.from(k);
  c[0] = c[0]! & 248;
  c[31] = (c[31]! & 127) | 64;
  return bytesToNumberLE(c);
}

/** hash_i(X) = SHA-512((2^256 - 1 - i) as 32 little-endian bytes || X). */
function hashI(i: number, ...parts: Uint8Array[]): Uint8Array {
  const prefix = new Uint8Array(32).fill(0xff);
  prefix[0] = 0xff - i;
  return sha512(concatBytes(prefix, ...parts));
}

const modQ = (b: Uint8Array): bigint => Fn.create(bytesToNumberLE(b));

/** calculate_key_pair: A is kB with its sign bit forced to 0, and a is negated to match. */
export function calculateKeyPair(k: Uint8Array): { A: Uint8Array; a: bigint; edwardsSign: number } {
  const scalar = Fn.create(clampScalar(k));
  const E = Point.BASE.multiply(scalar).toBytes();
  const edwardsSign = E[31]! >> 7;
  const A = Uint8Array.from(E);
  A[31] = A[31]! & 0x7f;
  return { A, a: edwardsSign ? Fn.neg(scalar) : scalar, edwardsSign };
}

function schnorr(a: bigint, A: Uint8Array, message: Uint8Array, Z: Uint8Array): Uint8Array {
  const r = modQ(hashI(1, numberToBytesLE(a, 32), message, Z));
  const R = Point.BASE.multiply(r).toBytes();
  const h = modQ(sha512(concatBytes(R, A, message)));
  const s = Fn.add(r, Fn.mul(h, a));
  return concatBytes(R, numberToBytesLE(s, 32));
}

/** xeddsa_sign(k, M, Z) from the spec; Z defaults to 64 fresh random bytes. */
export function xeddsaSign(k: Uint8Array, message: Uint8Array, Z: Uint8Array = randomBytes(64)): Uint8Array {
  const { A, a } = calculateKeyPair(k);
  return schnorr(a, A, message, Z);
}

/**
 * libsignal's variant: sign with the un-negated k against A = kB as is, and carry A's sign bit
 * in the top bit of sig[63] (unused because s < q < 2^253).
 */
export function libsignalSign(
  k: Uint8Array,
  message: Uint8Array,
  Z: Uint8Array = randomBytes(64),
): Uint8Array {
  const scalar = Fn.create(clampScalar(k));
  const E = Point.BASE.multiply(scalar).toBytes();
  const sig = schnorr(scalar, E, message, Z);
  sig[63] = sig[63]! | (E[31]! & 0x80);
  return sig;
}

/** Signal's serialized public key: 0x05 || X25519 public key. */
export function signalPublicKey(k: Uint8Array): Uint8Array {
  return concatBytes(Uint8Array.of(0x05), x25519.getPublicKey(k));
}

/** u = (1 + y) / (1 - y): the Montgomery form of an encoded Edwards point. */
export function edwardsToMontgomery(A: Uint8Array): Uint8Array {
  const y = Point.fromBytes(A).y;
  return numberToBytesLE(Fp.div(Fp.add(Fp.ONE, y), Fp.sub(Fp.ONE, y)), 32);
}
