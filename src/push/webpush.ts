import { createCipheriv, createECDH, hkdfSync, randomBytes } from "node:crypto";
import { p256 } from "@noble/curves/nist.js";
import { importJWK, SignJWT } from "jose";

/*
 * The two pieces of Web Push that are cryptography: the payload encrypted to the device (RFC 8291,
 * `aes128gcm` content coding of RFC 8188) and the server's signed identity (RFC 8292, VAPID). The
 * primitives are node:crypto's (ECDH, HKDF, AES-GCM) and jose's (ES256); only the framing the RFCs
 * define is written here.
 */

/** One record holds the whole payload: a wake-up is a few dozen bytes. */
const RECORD_SIZE = 4096;
/** Every payload is padded to this many bytes, so its size says nothing (not even a position's digits). */
const PADDED_SIZE = 64;

const b64u = (s: string) => Buffer.from(s, "base64url");
const hkdf = (salt: Buffer, ikm: Buffer, info: Buffer, length: number) =>
  Buffer.from(hkdfSync("sha256", ikm, salt, info, length));

/** Whether `bytes` is an uncompressed point on P-256 (a device's `p256dh` key). */
export function isP256Point(bytes: Uint8Array): boolean {
  if (bytes.length !== 65 || bytes[0] !== 4) return false;
  try {
    p256.Point.fromBytes(bytes).assertValidity();
    return true;
  } catch {
    return false;
  }
}

/**
 * RFC 8291: encrypts `plaintext` to the device's `p256dh` key and `auth` secret, as one
 * aes128gcm record whose header carries the salt and the server's ephemeral public key.
 */
export function encryptPayload(plaintext: Buffer, p256dh: string, auth: string): Buffer {
  const uaPublic = b64u(p256dh);
  const ecdh = createECDH("prime256v1");
  const asPublic = ecdh.generateKeys();
  const shared = ecdh.computeSecret(uaPublic);
  const keyInfo = Buffer.concat([Buffer.from("WebPush: info\0"), uaPublic, asPublic]);
  const ikm = hkdf(b64u(auth), shared, keyInfo, 32);
  const salt = randomBytes(16);
  const cek = hkdf(salt, ikm, Buffer.from("Content-Encoding: aes128gcm\0"), 16);
  const nonce = hkdf(salt, ikm, Buffer.from("Content-Encoding: nonce\0"), 12);
  const header = Buffer.alloc(21);
  salt.copy(header, 0);
  header.writeUInt32BE(RECORD_SIZE, 16);
  header.writeUInt8(asPublic.length, 20);
  const cipher = createCipheriv("aes-128-gcm", cek, nonce);
  // 0x02: the last (here, only) record's padding delimiter, then zeros up to the padded size.
  const padding = Buffer.alloc(Math.max(0, PADDED_SIZE - plaintext.length - 1));
  const record = Buffer.concat([plaintext, Buffer.from([2]), padding]);
  const body = Buffer.concat([cipher.update(record), cipher.final()]);
  return Buffer.concat([header, asPublic, body, cipher.getAuthTag()]);
}

/** The uncompressed public key of a VAPID private key: the `applicationServerKey` clients subscribe with. */
export function vapidPublicKey(privateKey: string): string {
  const ecdh = createECDH("prime256v1");
  ecdh.setPrivateKey(b64u(privateKey));
  return ecdh.getPublicKey().toString("base64url");
}

/** Whether a string is a usable VAPID private key (a P-256 scalar, base64url): config checks it. */
export function isVapidPrivateKey(privateKey: string): boolean {
  try {
    vapidPublicKey(privateKey);
    return b64u(privateKey).length === 32;
  } catch {
    return false;
  }
}

/**
 * RFC 8292: the `Authorization` header identifying this server to the push service at `endpoint`:
 * a JWT signed with ES256 whose `aud` is the endpoint's origin, valid for `ttlSeconds` (at most a day).
 */
export async function vapidAuthorization(
  privateKey: string,
  endpoint: string,
  subject: string,
  now: Date,
  ttlSeconds = 12 * 3600,
): Promise<string> {
  const publicKey = b64u(vapidPublicKey(privateKey));
  const jwk = {
    kty: "EC",
    crv: "P-256",
    d: privateKey,
    x: publicKey.subarray(1, 33).toString("base64url"),
    y: publicKey.subarray(33).toString("base64url"),
  };
  const iat = Math.floor(now.getTime() / 1000);
  const jwt = await new SignJWT({ sub: subject })
    .setProtectedHeader({ alg: "ES256", typ: "JWT" })
    .setAudience(new URL(endpoint).origin)
    .setExpirationTime(iat + Math.min(ttlSeconds, 86_400))
    .sign(await importJWK(jwk, "ES256"));
  return `vapid t=${jwt}, k=${publicKey.toString("base64url")}`;
}
