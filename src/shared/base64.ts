import { z } from "@hono/zod-openapi";

/**
 * Strict base64: standard or base64url alphabet (not mixed), padded or unpadded, and canonical
 * (unused trailing bits must be zero), so one byte string has only a few accepted spellings.
 */
export function decodeBase64(s: string): Uint8Array | null {
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(s)) return null;
  if (/[+/]/.test(s) && /[-_]/.test(s)) return null;
  const normalized = s.replace(/-/g, "+").replace(/_/g, "/");
  const buf = Buffer.from(normalized, "base64");
  // Node's decoder is lenient, so accept only what re-encodes to the input.
  const canonical = buf.toString("base64");
  if (normalized !== canonical && normalized !== canonical.replace(/=+$/, "")) return null;
  return new Uint8Array(buf);
}

const B64_PATTERN = /^([A-Za-z0-9+/]*|[A-Za-z0-9_-]*)={0,2}$/;
const charsFor = (bytes: number) => ({
  unpadded: Math.ceil((bytes * 4) / 3),
  padded: Math.ceil(bytes / 3) * 4,
});

/**
 * Base64 (standard or URL alphabet, padded or not, canonical: see decodeBase64) of `minBytes` to
 * `maxBytes` bytes. The pattern and lengths are what a client can check; the byte count is exact.
 */
export const base64Text = (minBytes: number, maxBytes: number, message: string) =>
  z
    .string()
    .min(charsFor(minBytes).unpadded, message)
    .max(charsFor(maxBytes).padded, message)
    .regex(B64_PATTERN, message);

export const base64 = (maxBytes: number, minBytes = 1) => {
  const message = `must be base64 of ${minBytes}-${maxBytes} bytes`;
  return base64Text(minBytes, maxBytes, message).refine((s) => {
    const b = decodeBase64(s);
    return b !== null && b.length >= minBytes && b.length <= maxBytes;
  }, message);
};
