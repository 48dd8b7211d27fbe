import { xchacha20poly1305 } from "@noble/ciphers/chacha.js";
import { randomBytes } from "@noble/ciphers/utils.js";
import { ed25519, x25519 } from "@noble/curves/ed25519.js";
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256, sha512 } from "@noble/hashes/sha2.js";
import { b64, concat, hex, unb64, utf8 } from "./bytes.js";

/*
 * The SDK's whole cryptographic scheme, composed from @noble primitives (docs/client.md):
 * - a message is sealed once with XChaCha20-Poly1305 under a fresh 32-byte key, and signed inside
 *   the seal by the sending device's Ed25519 identity key;
 * - that key is wrapped for each device by an ephemeral X25519 agreement with the device's
 *   identity key (its Ed25519 key on the Montgomery curve), HKDF-SHA256, XChaCha20-Poly1305.
 */

const WRAP_INFO = utf8("hush-sdk/1 key wrap");
const SIGN_CONTEXT = utf8("hush-sdk/1 message");
const NONCE = 24;

export const randomKey = (): Uint8Array => randomBytes(32);
export { randomBytes };

/** AEAD with a random nonce carried in front: nonce || ciphertext || tag. */
export function seal(key: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): Uint8Array {
  const nonce = randomBytes(NONCE);
  return concat(nonce, xchacha20poly1305(key, nonce, aad).encrypt(plaintext));
}

export function unseal(key: Uint8Array, blob: Uint8Array, aad?: Uint8Array): Uint8Array {
  if (blob.length < NONCE + 16) throw new Error("ciphertext too short");
  return xchacha20poly1305(key, blob.subarray(0, NONCE), aad).decrypt(blob.subarray(NONCE));
}

export interface IdentityKeyPair {
  secretKey: Uint8Array;
  publicKey: Uint8Array;
}

export function newIdentity(): IdentityKeyPair {
  const secretKey = ed25519.utils.randomSecretKey();
  return { secretKey, publicKey: ed25519.getPublicKey(secretKey) };
}

/** Binds a wrap to the device it was made for, so a wrapped key cannot be replayed to another one. */
const wrapAad = (userId: string, deviceId: string) => utf8(`${userId}:${deviceId}`);

/** Wraps `key` for one device: ephemeral X25519 public key || seal(KEK, key). */
export function wrapKey(key: Uint8Array, identityKeyB64: string, userId: string, deviceId: string): string {
  const theirs = ed25519.utils.toMontgomery(unb64(identityKeyB64));
  const eph = x25519.utils.randomSecretKey();
  const ephPub = x25519.getPublicKey(eph);
  const kek = hkdf(sha256, x25519.getSharedSecret(eph, theirs), concat(ephPub, theirs), WRAP_INFO, 32);
  return b64(concat(ephPub, seal(kek, key, wrapAad(userId, deviceId))));
}

export function unwrapKey(identity: IdentityKeyPair, wrapped: string, userId: string, deviceId: string) {
  const blob = unb64(wrapped);
  const ephPub = blob.subarray(0, 32);
  const mine = ed25519.utils.toMontgomery(identity.publicKey);
  const shared = x25519.getSharedSecret(ed25519.utils.toMontgomerySecret(identity.secretKey), ephPub);
  const kek = hkdf(sha256, shared, concat(ephPub, mine), WRAP_INFO, 32);
  return unseal(kek, blob.subarray(32), wrapAad(userId, deviceId));
}

/** What a message signature covers: the conversation and the sealed body's bytes. */
const signed = (conversationId: string, body: Uint8Array) =>
  concat(SIGN_CONTEXT, utf8(conversationId), new Uint8Array([0]), body);

/** Seals a body for a conversation: signature(64) || body, under `key`, the conversation as AAD. */
export function sealMessage(
  identity: IdentityKeyPair,
  key: Uint8Array,
  conversationId: string,
  body: Uint8Array,
) {
  const signature = ed25519.sign(signed(conversationId, body), identity.secretKey);
  return b64(seal(key, concat(signature, body), utf8(conversationId)));
}

/** Opens a sealed body; `verified` says whether the named sender device's pinned key signed it. */
export function openMessage(
  key: Uint8Array,
  conversationId: string,
  content: string,
  senderIdentityKeyB64: string | undefined,
): { body: Uint8Array; verified: boolean } {
  const plain = unseal(key, unb64(content), utf8(conversationId));
  const signature = plain.subarray(0, 64);
  const body = plain.subarray(64);
  let verified = false;
  if (senderIdentityKeyB64) {
    try {
      verified = ed25519.verify(signature, signed(conversationId, body), unb64(senderIdentityKeyB64));
    } catch {
      verified = false;
    }
  }
  return { body, verified };
}

/** An X25519 prekey, published Signal-style as 0x05 || key, signed by the identity key. */
export function newPrekey(identity: IdentityKeyPair) {
  const secretKey = x25519.utils.randomSecretKey();
  const publicKey = concat(new Uint8Array([5]), x25519.getPublicKey(secretKey));
  return { secretKey, publicKey, signature: ed25519.sign(publicKey, identity.secretKey) };
}

export const sha256Hex = (bytes: Uint8Array) => hex(sha256(bytes));

/**
 * A safety number for two users' identity keys (every device of each, sorted): 60 digits in 12
 * groups, the same on both sides. Compared out of band, it proves no key was swapped in between.
 */
export function safetyNumber(
  a: { userId: string; keys: string[] },
  b: { userId: string; keys: string[] },
): string {
  const side = (s: { userId: string; keys: string[] }) => {
    let digest = concat(utf8(s.userId), ...[...s.keys].sort().map(unb64));
    for (let i = 0; i < 1024; i++) digest = sha512(digest);
    return digest;
  };
  const digits = (d: Uint8Array) =>
    Array.from({ length: 6 }, (_, i) => {
      const chunk = d.subarray(i * 5, i * 5 + 5);
      const n = chunk.reduce((acc, x) => acc * 256 + x, 0);
      return String(n % 100_000).padStart(5, "0");
    });
  const [first, second] = [a, b].sort((x, y) => (x.userId < y.userId ? -1 : 1));
  return [...digits(side(first!)), ...digits(side(second!))].join(" ");
}
