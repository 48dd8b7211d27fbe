import { fingerprint, linkStatement as sdkStatement, verifyLink as sdkVerify, signLink } from "@hush/sdk";
import { ed25519 } from "@noble/curves/ed25519.js";
import { describe, expect, it } from "vitest";
import { linkStatement, verifyLink } from "../../src/devices/linking.js";

const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");
const secret = ed25519.utils.randomSecretKey();
const accountKey = b64(ed25519.getPublicKey(secret));
const device = (id: string) => ({
  device_id: id,
  key_type: "ed25519" as const,
  identity_key: b64(ed25519.getPublicKey(ed25519.utils.randomSecretKey())),
});

describe("the device-link statement", () => {
  it("is exactly four lines joined by \\n, no trailing newline, the same in the server and the SDK", () => {
    const d = device("laptop");
    const text = `hush-device-link-v1\nlaptop\ned25519\n${d.identity_key}`;
    expect(Buffer.from(linkStatement(d.device_id, d.key_type, d.identity_key)).toString("utf8")).toBe(text);
    expect(Buffer.from(sdkStatement(d)).toString("utf8")).toBe(text);
  });

  it("a signature verifies for its device only, whatever was verified (and cached) before", () => {
    const [a, b] = [device("a"), device("b")];
    const sig = signLink(secret, a);
    expect(verifyLink(accountKey, a, sig)).toBe(true);
    expect(verifyLink(accountKey, a, sig)).toBe(true); // from the cache
    expect(verifyLink(accountKey, b, sig)).toBe(false); // the same signature on another device
    expect(verifyLink(accountKey, { ...a, identity_key: b.identity_key }, sig)).toBe(false);
    expect(verifyLink(b64(ed25519.getPublicKey(ed25519.utils.randomSecretKey())), a, sig)).toBe(false);
    expect(verifyLink(accountKey, a, b64(new Uint8Array(64)))).toBe(false);
    expect(verifyLink(accountKey, a, "not base64 of 64 bytes")).toBe(false);
    expect(sdkVerify(accountKey, a, sig)).toBe(true);
    expect(sdkVerify(accountKey, b, sig)).toBe(false);
  });

  it("a fingerprint is 12 digits in three groups, and differs for another key", () => {
    const [a, b] = [device("a"), device("b")];
    expect(fingerprint(a.identity_key)).toMatch(/^\d{4} \d{4} \d{4}$/);
    expect(fingerprint(a.identity_key)).toBe(fingerprint(a.identity_key));
    expect(fingerprint(a.identity_key)).not.toBe(fingerprint(b.identity_key));
  });
});
