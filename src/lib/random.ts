import { createHash, createHmac, randomBytes, randomInt, timingSafeEqual } from "node:crypto";

/** All randomness and keyed hashing used by Hush goes through this module. */
export const randomToken = (bytes = 32) => randomBytes(bytes).toString("base64url");
export const randomHex = (bytes: number) => randomBytes(bytes).toString("hex");
export const randomBuffer = (bytes: number) => randomBytes(bytes);
export const randomDigits = (n: number) => Array.from({ length: n }, () => randomInt(0, 10)).join("");
export const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");
export const hmac = (key: string, s: string) => createHmac("sha256", key).update(s).digest("hex");

export function safeEqualHex(a: string, b: string): boolean {
  const x = Buffer.from(a, "hex");
  const y = Buffer.from(b, "hex");
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Constant-time comparison of two strings of any length (a configured secret and what a caller sent). */
export function safeEqualText(a: string, b: string): boolean {
  const x = createHash("sha256").update(a).digest();
  const y = createHash("sha256").update(b).digest();
  return timingSafeEqual(x, y);
}
