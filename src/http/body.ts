import type { Context, MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import { AppError } from "./errors.js";
import type { AppEnv } from "./openapi.js";

/** Deep enough for every body Hush declares (they nest 3 or 4 levels), shallow enough to be cheap. */
export const MAX_JSON_DEPTH = 16;
const jsonType = /^application\/([a-z.+-]*\+)?json\s*(;|$)/i;

export interface BodyLimits {
  /** Bytes a request may send, decided per request (after the auth gate has run). */
  maxBytes(c: Context<AppEnv>): number;
  maxDepth?: number;
}

/**
 * Reads a request's JSON body for the route it matched, and only then: it is mounted after the auth
 * gate, so a route that needs a token refuses a request without one before a byte of its body is
 * read, and a GET, or a path no route has, reads nothing. Too long (413), not JSON (415) or nested
 * too deep (400) is refused before any parsing; the text is handed to the route's validator, which
 * parses it once.
 */
export function jsonBodies({ maxBytes, maxDepth = MAX_JSON_DEPTH }: BodyLimits): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const method = c.req.method;
    if (method === "GET" || method === "HEAD" || method === "OPTIONS") return next();
    const length = c.req.header("content-length");
    const chunked = c.req.header("transfer-encoding") !== undefined;
    if (!chunked && (length === undefined || length === "0")) return next();
    if (!matchedRoutes(c).some((r) => r.method !== "ALL")) return next(); // a 404 or 405 reads nothing
    if (!jsonType.test(c.req.header("content-type") ?? "")) throw new AppError("UNSUPPORTED_MEDIA_TYPE");
    const limit = maxBytes(c);
    if (length !== undefined && Number(length) > limit) throw tooLarge(limit);
    const text = await readText(c.req.raw, limit);
    if (!withinDepth(text, maxDepth)) {
      throw new AppError("VALIDATION_ERROR", `JSON nested deeper than ${maxDepth} levels`, {
        body: `nests deeper than ${maxDepth} levels`,
      });
    }
    // Hono keeps body promises in this cache (typed as the values); its validator parses from it.
    (c.req.bodyCache as { text?: Promise<string> }).text = Promise.resolve(text);
    return next();
  };
}

const tooLarge = (limit: number) => new AppError("PAYLOAD_TOO_LARGE", `Request body exceeds ${limit} bytes`);

/** Reads the body as UTF-8, giving up (413) as soon as it passes `limit` bytes. */
async function readText(req: Request, limit: number): Promise<string> {
  if (!req.body) return "";
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw tooLarge(limit);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, size).toString("utf8");
}

/**
 * Whether no array or object in `text` nests deeper than `max`, by counting brackets outside
 * strings: linear, and it runs before JSON.parse, so a deeply nested body costs one pass over its
 * bytes and never reaches the parser or the validators.
 */
export const withinDepth = (text: string, max: number): boolean => jsonShape(text, max).depth <= max;

/**
 * How deep `text` nests (counting stops past `stopAt`) and how many values it holds at most (arrays,
 * objects and commas, outside strings), in one pass before anything parses it. What JSON.parse
 * costs follows the values it must build, so a caller can bound that as well as the bytes.
 */
export function jsonShape(
  text: string,
  stopAt = Number.POSITIVE_INFINITY,
): { depth: number; values: number } {
  let depth = 0;
  let deepest = 0;
  let values = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 92)
        i++; // backslash: skip the escaped character
      else if (ch === 34) inString = false;
    } else if (ch === 34) inString = true;
    else if (ch === 123 || ch === 91) {
      values++;
      deepest = Math.max(deepest, ++depth);
      if (deepest > stopAt) break;
    } else if (ch === 125 || ch === 93) depth--;
    else if (ch === 44) values++;
  }
  return { depth: deepest, values };
}
