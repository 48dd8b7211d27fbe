import { createPublicKey, verify } from "node:crypto";
import type { KeyType } from "./crypto.js";

/**
 * The statement an account key signs to link a device: exactly these four lines joined by "\n",
 * no trailing newline, as UTF-8. Every client language builds it the same way (docs/devices.md).
 */
export const linkStatement = (deviceId: string, keyType: KeyType, identityKey: string) =>
  Buffer.from(["hush-device-link-v1", deviceId, keyType, identityKey].join("\n"), "utf8");

// DER prefix of an Ed25519 SubjectPublicKeyInfo: Node's own Ed25519 takes keys in that form.
const SPKI_ED25519 = Buffer.from("302a300506032b6570032100", "hex");
const CACHE_MAX = 50_000;
/**
 * Verdicts already reached, keyed by everything that was verified (account key, statement,
 * signature): a device list is checked on every read, and a 300-device group must cost no more
 * than a map lookup a device once seen. The same bytes always give the same verdict, so the cache
 * cannot go stale; it is bounded, the oldest verdicts leaving first.
 */
const verdicts = new Map<string, boolean>();

function verifyUncached(accountKey: string, statement: Buffer, signature: string): boolean {
  const key = Buffer.from(accountKey, "base64");
  const sig = Buffer.from(signature, "base64");
  if (key.length !== 32 || sig.length !== 64) return false;
  try {
    const spki = createPublicKey({ key: Buffer.concat([SPKI_ED25519, key]), format: "der", type: "spki" });
    return verify(null, statement, spki, sig);
  } catch {
    return false;
  }
}

/** Whether `signature` is the account key's signature linking this device. */
export function verifyLink(
  accountKey: string,
  device: { device_id: string; key_type: KeyType; identity_key: string },
  signature: string,
): boolean {
  const statement = linkStatement(device.device_id, device.key_type, device.identity_key);
  const cacheKey = `${accountKey}\n${signature}\n${statement.toString("utf8")}`;
  const known = verdicts.get(cacheKey);
  if (known !== undefined) return known;
  const ok = verifyUncached(accountKey, statement, signature);
  if (verdicts.size >= CACHE_MAX) verdicts.delete(verdicts.keys().next().value!);
  verdicts.set(cacheKey, ok);
  return ok;
}

/** For the benchmark's "before" figure: the same check with nothing remembered. */
export const verifyLinkUncached = (
  accountKey: string,
  device: { device_id: string; key_type: KeyType; identity_key: string },
  signature: string,
) =>
  verifyUncached(
    accountKey,
    linkStatement(device.device_id, device.key_type, device.identity_key),
    signature,
  );
