import { z } from "@hono/zod-openapi";
import { decodeBase64, parseIdentityKey } from "./crypto.js";

/** Base64 of at most `maxBytes` bytes. */
export const base64 = (maxBytes: number, minBytes = 1) =>
  z
    .string()
    .max(Math.ceil(maxBytes / 3) * 4)
    .refine((s) => {
      const b = decodeBase64(s);
      return b !== null && b.length >= minBytes && b.length <= maxBytes;
    }, `must be base64 of ${minBytes}-${maxBytes} bytes`);

/** A device identity key: raw 32-byte Ed25519, or Signal's 33-byte 0x05-prefixed Curve25519. */
export const IdentityKeyB64 = z
  .string()
  .max(64)
  .superRefine((s, ctx) => {
    const bytes = decodeBase64(s);
    if (!bytes) return void ctx.addIssue({ code: "custom", message: "must be base64" });
    const parsed = parseIdentityKey(bytes);
    if (!parsed.ok) ctx.addIssue({ code: "custom", message: parsed.reason });
  })
  .openapi({
    description: "Base64 of a raw 32-byte Ed25519 public key, or a 33-byte Curve25519 key starting with 0x05",
    example: "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
  });

export const KeyType = z.enum(["ed25519", "curve25519"]);
