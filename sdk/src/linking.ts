import { ed25519 } from "@noble/curves/ed25519.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { b64, concat, unb64, utf8 } from "./bytes.js";

/*
 * Devices signed by the account key (docs/devices.md). The account key's secret lives only on the
 * device that made it (at sign-up, or at an account-key reset); it signs each device the account
 * adds, after its owner compared the new device's fingerprint. Whoever reads a device list checks
 * every device's signature against the account key it pinned for that user.
 */

export interface LinkedDevice {
  device_id: string;
  key_type: "ed25519" | "curve25519";
  identity_key: string;
}

/** Exactly four lines joined by "\n", no trailing newline: what the account key signs. */
export const linkStatement = (d: LinkedDevice) =>
  utf8(["hush-device-link-v1", d.device_id, d.key_type, d.identity_key].join("\n"));

export const signLink = (accountSecret: Uint8Array, d: LinkedDevice) =>
  b64(ed25519.sign(linkStatement(d), accountSecret));

export function verifyLink(accountKey: string, d: LinkedDevice, signature: string | null): boolean {
  if (!signature) return false;
  try {
    return ed25519.verify(unb64(signature), linkStatement(d), unb64(accountKey), { zip215: false });
  } catch {
    return false;
  }
}

/**
 * A new device's fingerprint: 12 digits of SHA-256 over its identity key, shown on the new device
 * and typed on the approving one. A server that swapped the key would need another key with the
 * same 12 digits (about 2^40 tries) while the person waits: a minute is not enough.
 */
export function fingerprint(identityKey: string): string {
  const digest = sha256(concat(utf8("hush-device-fingerprint-v1\n"), unb64(identityKey)));
  const n = digest.subarray(0, 8).reduce((acc, x) => acc * 256n + BigInt(x), 0n);
  const digits = String(n % 10n ** 12n).padStart(12, "0");
  return `${digits.slice(0, 4)} ${digits.slice(4, 8)} ${digits.slice(8)}`;
}

/** The same code however it was typed: digits only. */
export const sameFingerprint = (typed: string, expected: string) =>
  typed.replace(/\D/g, "") === expected.replace(/\D/g, "");
