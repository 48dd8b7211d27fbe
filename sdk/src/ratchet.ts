import { xchacha20poly1305 } from "@noble/ciphers/chacha.js";
import { x25519 } from "@noble/curves/ed25519.js";
import { hkdf } from "@noble/hashes/hkdf.js";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { b64, concat, unb64, utf8 } from "./bytes.js";

/*
 * The Double Ratchet (Signal's published specification, revision 4), written from the text:
 * a DH ratchet step whenever the other side's ratchet key changes, a symmetric step per message.
 * Here a "plaintext" is always one 32-byte content key (docs/client.md, "The scheme").
 * Functions are pure over a JSON state: the caller decides when the new state is stored, and keeps
 * the old one when a message does not open (nothing is consumed by a failed attempt).
 */

const RK_INFO = utf8("hush-sdk/2 ratchet");
const MK_INFO = utf8("hush-sdk/2 message key");
/** How far ahead of a chain a message may be (keys derived and kept for the ones skipped). */
export const MAX_SKIP = 1000;
/** At most this many skipped keys kept per session, the oldest dropped first. */
export const MAX_SKIPPED_KEPT = 2000;
/** Skipped keys are dropped after this long: a message later than that is reported undecryptable. */
export const SKIPPED_TTL_MS = 30 * 86_400_000;

/** base64 strings throughout, so the state is a JSON value a ClientStore keeps as is. */
export interface RatchetState {
  rk: string;
  dhs: { sk: string; pk: string };
  dhr: string | null;
  cks: string | null;
  ckr: string | null;
  ns: number;
  nr: number;
  pn: number;
  /** Keys of messages skipped over: [ratchet key, n, message key, when (ms)]. */
  skipped: [string, number, string, number][];
  /** Their earlier ratchet keys (the last few): a message under one whose key is gone is a duplicate. */
  prev?: string[];
}

export interface Header {
  dh: Uint8Array;
  pn: number;
  n: number;
}

export const HEADER_BYTES = 40;
export const encodeHeader = (h: Header) => {
  const out = new Uint8Array(HEADER_BYTES);
  out.set(h.dh, 0);
  const v = new DataView(out.buffer);
  v.setUint32(32, h.pn);
  v.setUint32(36, h.n);
  return out;
};
export function decodeHeader(b: Uint8Array): Header {
  if (b.length < HEADER_BYTES) throw new Error("ratchet header too short");
  const v = new DataView(b.buffer, b.byteOffset, HEADER_BYTES);
  return { dh: b.slice(0, 32), pn: v.getUint32(32), n: v.getUint32(36) };
}

const dh = (sk: string, pk: string | Uint8Array) =>
  x25519.getSharedSecret(unb64(sk), typeof pk === "string" ? unb64(pk) : pk);

/** KDF_RK: HKDF-SHA256 keyed by the root key over a DH output; 64 bytes = new root key || chain key. */
function kdfRk(rk: string, dhOut: Uint8Array): [string, string] {
  const out = hkdf(sha256, dhOut, unb64(rk), RK_INFO, 64);
  return [b64(out.subarray(0, 32)), b64(out.subarray(32))];
}

/** KDF_CK: message key = HMAC(ck, 0x01), next chain key = HMAC(ck, 0x02). */
function kdfCk(ck: string): [string, string] {
  const k = unb64(ck);
  return [b64(hmac(sha256, k, new Uint8Array([2]))), b64(hmac(sha256, k, new Uint8Array([1])))];
}

/**
 * ENCRYPT/DECRYPT: XChaCha20-Poly1305, its 32-byte key and 24-byte nonce both from HKDF over the
 * message key (each message key is used once, so the nonce needs no randomness), AD || header as
 * associated data.
 */
function aead(mk: string, ad: Uint8Array, header: Uint8Array) {
  const okm = hkdf(sha256, unb64(mk), new Uint8Array(32), MK_INFO, 56);
  return xchacha20poly1305(okm.subarray(0, 32), okm.subarray(32), concat(ad, header));
}

export const newKeyPair = (sk: Uint8Array = x25519.utils.randomSecretKey()) => ({
  sk: b64(sk),
  pk: b64(x25519.getPublicKey(sk)),
});

/** The initiator's state (Alice): she knows the responder's signed prekey, his first ratchet key. */
export function initInitiator(
  sk: Uint8Array,
  theirRatchetKey: Uint8Array,
  mine = newKeyPair(),
): RatchetState {
  const [rk, cks] = kdfRk(b64(sk), dh(mine.sk, theirRatchetKey));
  return { rk, dhs: mine, dhr: b64(theirRatchetKey), cks, ckr: null, ns: 0, nr: 0, pn: 0, skipped: [] };
}

/** The responder's state (Bob): his signed prekey pair is his first ratchet key pair. */
export function initResponder(sk: Uint8Array, signedPrekey: { sk: string; pk: string }): RatchetState {
  return {
    rk: b64(sk),
    dhs: signedPrekey,
    dhr: null,
    cks: null,
    ckr: null,
    ns: 0,
    nr: 0,
    pn: 0,
    skipped: [],
  };
}

const clone = (s: RatchetState): RatchetState => ({
  ...s,
  skipped: s.skipped.map((k) => [...k]) as RatchetState["skipped"],
});

/** Encrypts `plaintext`: the new state (to store before the message leaves) and header || ciphertext. */
export function ratchetEncrypt(state: RatchetState, plaintext: Uint8Array, ad: Uint8Array) {
  if (!state.cks) throw new Error("no sending chain yet");
  const s = clone(state);
  const [ck, mk] = kdfCk(s.cks!);
  s.cks = ck;
  const header = encodeHeader({ dh: unb64(s.dhs.pk), pn: s.pn, n: s.ns });
  s.ns += 1;
  return { state: s, message: concat(header, aead(mk, ad, header).encrypt(plaintext)) };
}

export class RatchetError extends Error {
  constructor(
    readonly kind: "duplicate" | "too_far" | "bad_message",
    message: string,
  ) {
    super(message);
  }
}

/**
 * Decrypts header || ciphertext. Returns the new state (the used message key gone from it) and
 * the plaintext; throws RatchetError and leaves `state` as it was when the message does not open.
 */
export function ratchetDecrypt(
  state: RatchetState,
  message: Uint8Array,
  ad: Uint8Array,
  now: number,
  /** This side's next ratchet key pair, made at a DH step (fixed only for test vectors). */
  fresh: () => { sk: string; pk: string } = newKeyPair,
) {
  const header = decodeHeader(message);
  const headerBytes = message.subarray(0, HEADER_BYTES);
  const body = message.subarray(HEADER_BYTES);
  const s = clone(state);
  s.skipped = s.skipped.filter((k) => now - k[3] < SKIPPED_TTL_MS);
  const dhB64 = b64(header.dh);
  const at = s.skipped.findIndex((k) => k[0] === dhB64 && k[1] === header.n);
  if (at >= 0) {
    const plaintext = open(s.skipped[at]![2], ad, headerBytes, body);
    s.skipped.splice(at, 1);
    return { state: s, plaintext };
  }
  if (s.prev?.includes(dhB64))
    throw new RatchetError("duplicate", "this message's key was already used (a duplicate)");
  if (dhB64 !== s.dhr) {
    skip(s, header.pn, now);
    if (s.dhr) s.prev = [...(s.prev ?? []), s.dhr].slice(-8);
    // DH ratchet step: a new receiving chain from their new key, then a new sending chain from ours.
    s.pn = s.ns;
    s.ns = 0;
    s.nr = 0;
    s.dhr = dhB64;
    [s.rk, s.ckr] = kdfRk(s.rk, dh(s.dhs.sk, s.dhr));
    s.dhs = fresh();
    [s.rk, s.cks] = kdfRk(s.rk, dh(s.dhs.sk, s.dhr));
  } else if (header.n < s.nr) {
    throw new RatchetError("duplicate", "this message's key was already used (a duplicate)");
  }
  skip(s, header.n, now);
  const [ck, mk] = kdfCk(s.ckr!);
  s.ckr = ck;
  s.nr += 1;
  return { state: s, plaintext: open(mk, ad, headerBytes, body) };
}

function open(mk: string, ad: Uint8Array, header: Uint8Array, body: Uint8Array) {
  try {
    return aead(mk, ad, header).decrypt(body);
  } catch {
    throw new RatchetError("bad_message", "the message does not open in this session");
  }
}

/** Derives and keeps the keys of messages up to `until` on the current receiving chain. */
function skip(s: RatchetState, until: number, now: number) {
  if (!s.ckr) return;
  if (until - s.nr > MAX_SKIP)
    throw new RatchetError("too_far", `more than ${MAX_SKIP} messages skipped in one chain`);
  while (s.nr < until) {
    const [ck, mk] = kdfCk(s.ckr);
    s.skipped.push([s.dhr!, s.nr, mk, now]);
    s.ckr = ck;
    s.nr += 1;
  }
  if (s.skipped.length > MAX_SKIPPED_KEPT) s.skipped.splice(0, s.skipped.length - MAX_SKIPPED_KEPT);
}
