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

/**
 * The exact set of strings `decodeBase64` accepts that hold `minBytes` to `maxBytes` bytes, as one
 * regular expression a client's validator can apply: whole quads, then an optional tail of 2
 * characters (1 byte: the second one's low 4 bits zero, `==` optional) or 3 (2 bytes: the third
 * one's low 2 bits zero, `=` optional), in one alphabet. Byte counts are `3 * quads + tail`, so each
 * tail gets its own range of quads.
 */
export function base64Pattern(minBytes: number, maxBytes: number): string {
  const alphabet = (chars: string) => {
    const tails = ["", `${chars}[AQgw](?:==)?`, `${chars}{2}[AEIMQUYcgkosw048]=?`];
    const forms = tails.flatMap((tail, extra) => {
      const least = Math.max(0, Math.ceil((minBytes - extra) / 3));
      const most = Math.floor((maxBytes - extra) / 3);
      if (most < least) return [];
      const quads = least === most ? `{${least}}` : `{${least},${most}}`;
      return [`(?:${chars}{4})${quads}${tail}`];
    });
    return forms.join("|");
  };
  return `^(?:${alphabet("[A-Za-z0-9+/]")}|${alphabet("[A-Za-z0-9_-]")})$`;
}

const charsFor = (bytes: number) => ({
  unpadded: Math.ceil((bytes * 4) / 3),
  padded: Math.ceil(bytes / 3) * 4,
});

/**
 * Base64 (standard or URL alphabet, padded or not, canonical: see decodeBase64) of `minBytes` to
 * `maxBytes` bytes. The pattern says exactly that (so a client's validator agrees with the server's);
 * the lengths are its bounds in characters, for generators that show them.
 */
export const base64Text = (minBytes: number, maxBytes: number, message: string) =>
  z
    .string()
    .min(charsFor(minBytes).unpadded, message)
    .max(charsFor(maxBytes).padded, message)
    .regex(new RegExp(base64Pattern(minBytes, maxBytes)), message);

export const base64 = (maxBytes: number, minBytes = 1) => {
  const message = `must be base64 of ${minBytes}-${maxBytes} bytes`;
  return base64Text(minBytes, maxBytes, message).refine((s) => {
    const b = decodeBase64(s);
    return b !== null && b.length >= minBytes && b.length <= maxBytes;
  }, message);
};
