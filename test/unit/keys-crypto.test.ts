import { ed25519, x25519 } from "@noble/curves/ed25519.js";
import { bytesToHex, concatBytes, hexToBytes, numberToBytesLE } from "@noble/curves/utils.js";
import { describe, expect, it } from "vitest";
import { type IdentityKey, parseIdentityKey, verifySignature } from "../../src/devices/crypto.ts";
import { decodeBase64 } from "../../src/lib/base64.ts";
import {
  calculateKeyPair,
  edwardsToMontgomery,
  libsignalSign,
  signalPublicKey,
  xeddsaSign,
} from "../helpers/xeddsa.ts";

const P = 2n ** 255n - 19n;
const msg = new TextEncoder().encode("signed pre-key bytes");
const curveKey = (u: bigint) => concatBytes(Uint8Array.of(0x05), numberToBytesLE(u, 32));

function mustParse(bytes: Uint8Array): IdentityKey {
  const r = parseIdentityKey(bytes);
  if (!r.ok) throw new Error(`expected a valid key: ${r.reason}`);
  return r.key;
}

function flipBit(bytes: Uint8Array, index: number, mask = 0x01): Uint8Array {
  const copy = Uint8Array.from(bytes);
  copy[index] = copy[index]! ^ mask;
  return copy;
}

describe("decodeBase64", () => {
  it("accepts standard, unpadded and base64url spellings", () => {
    expect(decodeBase64("aGVsbG8=")).toEqual(new TextEncoder().encode("hello"));
    expect(decodeBase64("aGVsbG8")).toEqual(new TextEncoder().encode("hello"));
    expect(decodeBase64("+/+/")).toEqual(Uint8Array.of(0xfb, 0xff, 0xbf));
    expect(decodeBase64("-_-_")).toEqual(Uint8Array.of(0xfb, 0xff, 0xbf));
    expect(decodeBase64("")).toEqual(new Uint8Array(0));
  });

  it.each([
    ["whitespace", "aGVs bG8="],
    ["newline", "aGVsbG8=\n"],
    ["bad character", "aGVs*G8="],
    ["too much padding", "aGVsbG8=="],
    ["padding in the middle", "aG=VsbG8"],
    ["impossible length", "aGVsb"],
    ["mixed alphabets", "+/-_"],
    ["non-zero trailing bits", "aGVsbG9="],
  ])("rejects %s", (_, s) => {
    expect(decodeBase64(s)).toBeNull();
  });
});

describe("parseIdentityKey", () => {
  it("accepts an ed25519 public key", () => {
    const { publicKey } = ed25519.keygen();
    const r = parseIdentityKey(publicKey);
    expect(r).toEqual({ ok: true, key: { keyType: "ed25519", bytes: publicKey } });
  });

  it("accepts a Signal-style curve25519 public key", () => {
    const k = x25519.utils.randomSecretKey();
    const r = parseIdentityKey(signalPublicKey(k));
    expect(r.ok && r.key.keyType).toBe("curve25519");
    expect(r.ok && bytesToHex(r.key.bytes)).toBe(bytesToHex(signalPublicKey(k)));
  });

  it.each([
    ["empty", new Uint8Array(0)],
    ["31 bytes", new Uint8Array(31).fill(7)],
    ["34 bytes", new Uint8Array(34).fill(5)],
    ["y = 2 is not on the curve", numberToBytesLE(2n, 32)],
    ["non-canonical y >= p", numberToBytesLE(P + 2n, 32)],
    ["the small-order identity point", numberToBytesLE(1n, 32)],
    ["33 bytes without the 0x05 prefix", concatBytes(Uint8Array.of(0x04), x25519.keygen().publicKey)],
    ["u = p", curveKey(P)],
    // u = 4 is on the curve, so only the canonical-encoding check can reject p + 4.
    ["non-canonical u = p + 4", curveKey(P + 4n)],
    ["u = 2^255 - 1", curveKey(2n ** 255n - 1n)],
    ["a real u with the top bit set", flipBit(signalPublicKey(x25519.utils.randomSecretKey()), 32, 0x80)],
    ["u = p - 1, which has no Edwards image", curveKey(P - 1n)],
    // 2^3 + 486662*2^2 + 2 is a non-square mod p, so u = 2 lies on the twist.
    ["u = 2 on the twist", curveKey(2n)],
    ["u = 0, a small-order point", curveKey(0n)],
  ])("rejects %s", (_, bytes) => {
    const r = parseIdentityKey(bytes);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason.length).toBeGreaterThan(0);
  });
});

describe("verifySignature: ed25519", () => {
  const { secretKey, publicKey } = ed25519.keygen();
  const key = mustParse(publicKey);
  const sig = ed25519.sign(msg, secretKey);

  it("accepts a valid signature", () => {
    expect(verifySignature(key, msg, sig)).toBe(true);
  });

  it("rejects a tampered message, signature or the wrong key", () => {
    expect(verifySignature(key, flipBit(msg, 0), sig)).toBe(false);
    expect(verifySignature(key, msg, flipBit(sig, 5))).toBe(false);
    expect(verifySignature(key, msg, flipBit(sig, 40))).toBe(false);
    expect(verifySignature(mustParse(ed25519.keygen().publicKey), msg, sig)).toBe(false);
  });

  it("returns false instead of throwing on malformed input", () => {
    expect(verifySignature(key, msg, sig.subarray(0, 63))).toBe(false);
    expect(verifySignature({ keyType: "ed25519", bytes: new Uint8Array(5) }, msg, sig)).toBe(false);
  });
});

describe("verifySignature: XEdDSA", () => {
  const k = x25519.utils.randomSecretKey();
  const key = mustParse(signalPublicKey(k));
  const sig = xeddsaSign(k, msg);

  it("the spec signer's A is the Montgomery public key x25519 derives", () => {
    expect(bytesToHex(edwardsToMontgomery(calculateKeyPair(k).A))).toBe(bytesToHex(x25519.getPublicKey(k)));
  });

  it("accepts a spec-conformant signature", () => {
    expect(sig[63]! >> 7).toBe(0);
    expect(verifySignature(key, msg, sig)).toBe(true);
  });

  it("rejects a tampered message, R, s or the wrong key", () => {
    expect(verifySignature(key, flipBit(msg, 3), sig)).toBe(false);
    expect(verifySignature(key, msg, flipBit(sig, 2))).toBe(false);
    expect(verifySignature(key, msg, flipBit(sig, 33))).toBe(false);
    expect(verifySignature(key, msg, flipBit(sig, 63, 0x80))).toBe(false);
    const other = mustParse(signalPublicKey(x25519.utils.randomSecretKey()));
    expect(verifySignature(other, msg, sig)).toBe(false);
  });

  it("accepts libsignal-variant and spec signatures across both Edwards sign cases", () => {
    const signs = new Set<number>();
    for (let i = 0; i < 50; i++) {
      const sk = x25519.utils.randomSecretKey();
      const pk = mustParse(signalPublicKey(sk));
      const { edwardsSign } = calculateKeyPair(sk);
      signs.add(edwardsSign);
      const variant = libsignalSign(sk, msg);
      expect(variant[63]! >> 7).toBe(edwardsSign);
      expect(verifySignature(pk, msg, variant)).toBe(true);
      expect(verifySignature(pk, msg, xeddsaSign(sk, msg))).toBe(true);
      expect(verifySignature(pk, flipBit(msg, i % msg.length), variant)).toBe(false);
    }
    expect([...signs].sort()).toEqual([0, 1]);
  });

  it("returns false for a short signature", () => {
    expect(verifySignature(key, msg, sig.subarray(0, 32))).toBe(false);
  });
});

// Published vector from signalapp/libsignal,
// java/client/src/test/java/org/signal/libsignal/protocol/ecc/Curve25519Test.java (testSignature):
// Alice's identity key signs her serialized ephemeral public key.
describe("verifySignature: libsignal Curve25519Test vector", () => {
  const identityPrivate = hexToBytes("c097248412e58bf05df487968205132794178e367637f5818f81e0e6ce73e865");
  const identityPublic = hexToBytes("05ab7e717d4a163b7d9a1d8071dfe9dcf8cdcd1cea3339b6356be84d887e322c64");
  const ephemeralPublic = hexToBytes("05edce9d9c415ca78cb7252e72c2c4a554d3eb29485a0e1d503118d1a82d99fb4a");
  const signature = hexToBytes(
    "5de88ca9a89b4a115da79109c67c9c7464a3e4180274f1cb8c63c2984e286dfb" +
      "ede82deb9dcd9fae0bfbb821569b3d9001bd8130cd11d486cef047bd60b86e88",
  );
  const key = mustParse(identityPublic);

  it("the published private key derives the published public key", () => {
    expect(bytesToHex(signalPublicKey(identityPrivate))).toBe(bytesToHex(identityPublic));
  });

  it("verifies the published signature, which carries sign bit 1 in sig[63]", () => {
    expect(signature[63]! >> 7).toBe(1);
    expect(verifySignature(key, ephemeralPublic, signature)).toBe(true);
  });

  it("rejects every single-bit modification, as libsignal's test does", () => {
    for (let i = 0; i < signature.length; i++) {
      expect(verifySignature(key, ephemeralPublic, flipBit(signature, i))).toBe(false);
    }
  });
});
