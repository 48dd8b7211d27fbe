import { ed25519, x25519 } from "@noble/curves/ed25519.js";
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { ml_kem1024 } from "@noble/post-quantum/ml-kem.js";
import { concat, unb64, utf8 } from "./bytes.js";
import type { IdentityKeyPair } from "./crypto.js";

/*
 * PQXDH (Signal's published specification, revision 3), written from the text, with X25519 and
 * ML-KEM-1024; X3DH (the same without the KEM term) when the target has no KEM prekey. Identity
 * keys are the devices' Ed25519 keys, mapped to X25519 for the DH terms (as the v1 key wrap did)
 * and used as they are to verify prekey signatures. docs/client.md gives the byte layout.
 */

const F = new Uint8Array(32).fill(0xff);
const INFO_PQ = utf8("hush-sdk/2 PQXDH X25519 SHA-256 ML-KEM-1024");
const INFO_X3DH = utf8("hush-sdk/2 X3DH X25519 SHA-256");
/** Signal's type bytes in front of published keys. */
export const EC_PREFIX = 0x05;
export const KEM_PREFIX = 0x08;
export const NO_KEY = 0xffffffff;

/** A device's prekey bundle as POST /keys/claim hands it out (public halves, base64). */
export interface Bundle {
  identity_key: string;
  signed_prekey: { key_id: number; public_key: string; signature: string } | null;
  one_time_prekey: { key_id: number; public_key: string } | null;
  kem_prekey: { key_id: number; public_key: string; signature: string } | null;
}

/** What the first messages carry so the receiver can run its half of the agreement. */
export interface PrekeyPart {
  spkId: number;
  opkId: number | null;
  kemId: number | null;
  ek: Uint8Array;
  /** The KEM ciphertext; empty for X3DH. */
  ct: Uint8Array;
}

const ecKey = (b: Uint8Array) => {
  if (b.length === 33 && b[0] === EC_PREFIX) return b.subarray(1);
  if (b.length === 32) return b;
  throw new Error("not a Curve25519 public key");
};
const kemKey = (b: Uint8Array) => {
  if (b[0] !== KEM_PREFIX || b.length !== 1 + 1568) throw new Error("not an ML-KEM-1024 public key");
  return b.subarray(1);
};

const mont = (edPublic: Uint8Array) => ed25519.utils.toMontgomery(edPublic);
const montSecret = (id: IdentityKeyPair) => ed25519.utils.toMontgomerySecret(id.secretKey);

/** AD = IK_A || IK_B: both devices' Ed25519 identity keys, initiator first. */
export const associatedData = (initiator: Uint8Array, responder: Uint8Array) => concat(initiator, responder);

function secretKey(parts: Uint8Array[], kemSecret: Uint8Array | null) {
  const ikm = concat(F, ...parts, ...(kemSecret ? [kemSecret] : []));
  return hkdf(sha256, ikm, new Uint8Array(32), kemSecret ? INFO_PQ : INFO_X3DH, 32);
}

/**
 * The initiator's half: checks the bundle's signatures against the identity key the directory
 * trusts for that device (not the one the claim answer names), then derives SK.
 * `ek` and `kemSeed` may be given for test vectors; otherwise fresh randomness.
 */
export function initiate(
  me: IdentityKeyPair,
  trustedIdentityKey: Uint8Array,
  bundle: Bundle,
  fixed: { ek?: Uint8Array; kemSeed?: Uint8Array } = {},
) {
  const spk = bundle.signed_prekey;
  if (!spk) throw new Error("the device has no signed prekey: it cannot start a session");
  const spkBytes = unb64(spk.public_key);
  if (!ed25519.verify(unb64(spk.signature), spkBytes, trustedIdentityKey))
    throw new Error("the signed prekey's signature does not verify against the device's identity key");
  const kem = bundle.kem_prekey;
  if (kem && !ed25519.verify(unb64(kem.signature), unb64(kem.public_key), trustedIdentityKey))
    throw new Error("the KEM prekey's signature does not verify against the device's identity key");
  const spkPub = ecKey(spkBytes);
  const ek = fixed.ek ?? x25519.utils.randomSecretKey();
  const dhs = [
    x25519.getSharedSecret(montSecret(me), spkPub),
    x25519.getSharedSecret(ek, mont(trustedIdentityKey)),
    x25519.getSharedSecret(ek, spkPub),
  ];
  if (bundle.one_time_prekey)
    dhs.push(x25519.getSharedSecret(ek, ecKey(unb64(bundle.one_time_prekey.public_key))));
  const encapsulated = kem ? ml_kem1024.encapsulate(kemKey(unb64(kem.public_key)), fixed.kemSeed) : null;
  const sk = secretKey(dhs, encapsulated?.sharedSecret ?? null);
  const part: PrekeyPart = {
    spkId: spk.key_id,
    opkId: bundle.one_time_prekey?.key_id ?? null,
    kemId: kem?.key_id ?? null,
    ek: x25519.getPublicKey(ek),
    ct: encapsulated?.cipherText ?? new Uint8Array(0),
  };
  return { sk, part, theirRatchetKey: spkPub, ad: associatedData(me.publicKey, trustedIdentityKey) };
}

/** The secrets a responder looks up by the ids a first message names (null: not held, or used). */
export interface PrekeySecrets {
  signed(id: number): Uint8Array | null;
  oneTime(id: number): Uint8Array | null;
  /** The ML-KEM-1024 secret key for a KEM prekey id. */
  kem(id: number): Uint8Array | null;
}

/** The responder's half: the same SK from the first message's prekey part. */
export function respond(
  me: IdentityKeyPair,
  initiatorIdentityKey: Uint8Array,
  part: PrekeyPart,
  s: PrekeySecrets,
) {
  const spk = s.signed(part.spkId);
  if (!spk) throw new Error(`signed prekey ${part.spkId} is not held`);
  const dhs = [
    x25519.getSharedSecret(spk, mont(initiatorIdentityKey)),
    x25519.getSharedSecret(montSecret(me), part.ek),
    x25519.getSharedSecret(spk, part.ek),
  ];
  if (part.opkId !== null) {
    const opk = s.oneTime(part.opkId);
    if (!opk) throw new Error(`one-time prekey ${part.opkId} was already used or never held`);
    dhs.push(x25519.getSharedSecret(opk, part.ek));
  }
  let kemSecret: Uint8Array | null = null;
  if (part.kemId !== null) {
    const sk = s.kem(part.kemId);
    if (!sk) throw new Error(`KEM prekey ${part.kemId} was already used or never held`);
    kemSecret = ml_kem1024.decapsulate(part.ct, sk);
  }
  return {
    sk: secretKey(dhs, kemSecret),
    signedPrekey: spk,
    ad: associatedData(initiatorIdentityKey, me.publicKey),
  };
}

/*
 * encrypted_key, the bytes (standard base64 on the wire):
 *   0x01 || ratchet message                      a session's message
 *   0x02 || prekey part || ratchet message       until the initiator has heard back
 *   0x03 || 32 random bytes                      the sending device's own copy: noise
 *   0x00 || v1 key wrap                          only for a device that publishes no signed prekey
 *                                                (never opened by this SDK, whose devices all do)
 * prekey part = spk_id u32 || opk_id u32 || kem_id u32 (0xFFFFFFFF: none) || EK 32 || ct_len u16 || ct
 * ratchet message = DH 32 || PN u32 || N u32 || XChaCha20-Poly1305(content key) (48 bytes)
 * (u32, u16: big-endian)
 */
export const Kind = { Legacy: 0, Message: 1, Prekey: 2, Self: 3 } as const;

/** An encrypted_key's bytes for a ratchet message: 0x02 || part || message until confirmed, else 0x01 || message. */
export const wrappedBytes = (message: Uint8Array, part: Uint8Array | null) =>
  part
    ? concat(new Uint8Array([Kind.Prekey]), part, message)
    : concat(new Uint8Array([Kind.Message]), message);

export function encodePart(p: PrekeyPart) {
  const head = new Uint8Array(12 + 32 + 2);
  const v = new DataView(head.buffer);
  v.setUint32(0, p.spkId);
  v.setUint32(4, p.opkId ?? NO_KEY);
  v.setUint32(8, p.kemId ?? NO_KEY);
  head.set(p.ek, 12);
  v.setUint16(44, p.ct.length);
  return concat(head, p.ct);
}

export function decodePart(b: Uint8Array): { part: PrekeyPart; rest: Uint8Array } {
  if (b.length < 46) throw new Error("prekey part too short");
  const v = new DataView(b.buffer, b.byteOffset, 46);
  const id = (at: number) => (v.getUint32(at) === NO_KEY ? null : v.getUint32(at));
  const ctLen = v.getUint16(44);
  if (b.length < 46 + ctLen) throw new Error("prekey part too short");
  return {
    part: {
      spkId: v.getUint32(0),
      opkId: id(4),
      kemId: id(8),
      ek: b.slice(12, 44),
      ct: b.slice(46, 46 + ctLen),
    },
    rest: b.subarray(46 + ctLen),
  };
}

export function kemKeyPair(seed: Uint8Array) {
  const { publicKey, secretKey } = ml_kem1024.keygen(seed);
  return { publicKey: concat(new Uint8Array([KEM_PREFIX]), publicKey), secretKey };
}
