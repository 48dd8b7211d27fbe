import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { b64, utf8 } from "../../sdk/src/bytes.js";
import {
  newIdentity,
  newPrekey,
  openMessage,
  randomKey,
  safetyNumber,
  sealMessage,
  unwrapKey,
  wrapKey,
} from "../../sdk/src/crypto.js";
import { parseIdentityKey, verifySignature } from "../../src/devices/crypto.js";

describe("the SDK's scheme", () => {
  const alice = newIdentity();
  const bob = newIdentity();
  const conv = "0123456789abcdef01234567";

  it("wraps a key only the named device can unwrap, bound to that device", () => {
    const key = randomKey();
    const wrapped = wrapKey(key, b64(bob.publicKey), "bob", "phone");
    expect(unwrapKey(bob, wrapped, "bob", "phone")).toEqual(key);
    expect(() => unwrapKey(alice, wrapped, "bob", "phone")).toThrow();
    // The same wrap replayed under another device's name does not open.
    expect(() => unwrapKey(bob, wrapped, "bob", "laptop")).toThrow();
    // Two wraps of one key differ (fresh ephemeral key each time).
    expect(wrapKey(key, b64(bob.publicKey), "bob", "phone")).not.toBe(wrapped);
  });

  it("seals a body signed by the sender; a wrong sender key or a moved message is caught", () => {
    const key = randomKey();
    const sealed = sealMessage(alice, key, conv, utf8("hello"));
    const opened = openMessage(key, conv, sealed, b64(alice.publicKey));
    expect(new TextDecoder().decode(opened.body)).toBe("hello");
    expect(opened.verified).toBe(true);
    expect(openMessage(key, conv, sealed, b64(bob.publicKey)).verified).toBe(false);
    expect(openMessage(key, conv, sealed, undefined).verified).toBe(false);
    // Replayed into another conversation: the AEAD refuses it.
    expect(() => openMessage(key, "ffffffffffffffffffffffff", sealed, b64(alice.publicKey))).toThrow();
    const tampered = Buffer.from(sealed, "base64");
    tampered[40]! ^= 1;
    expect(() => openMessage(key, conv, tampered.toString("base64"), b64(alice.publicKey))).toThrow();
  });

  it("signs prekeys the way the server verifies them", () => {
    const spk = newPrekey(alice);
    expect(spk.publicKey).toHaveLength(33);
    expect(spk.publicKey[0]).toBe(5);
    expect(parseIdentityKey(spk.publicKey).ok).toBe(true);
    expect(
      verifySignature({ keyType: "ed25519", bytes: alice.publicKey }, spk.publicKey, spk.signature),
    ).toBe(true);
    expect(verifySignature({ keyType: "ed25519", bytes: bob.publicKey }, spk.publicKey, spk.signature)).toBe(
      false,
    );
  });

  it("gives both sides the same safety number, and a different one when a key changes", () => {
    const a = { userId: "a", keys: [b64(alice.publicKey)] };
    const b = { userId: "b", keys: [b64(bob.publicKey)] };
    expect(safetyNumber(a, b)).toBe(safetyNumber(b, a));
    expect(safetyNumber(a, b)).toMatch(/^(\d{5} ){11}\d{5}$/);
    expect(safetyNumber(a, { userId: "b", keys: [b64(new Uint8Array(randomBytes(32)))] })).not.toBe(
      safetyNumber(a, b),
    );
  });
});
