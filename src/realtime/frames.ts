import type { RawData } from "ws";
import { TTL_BOUNDS } from "../conversations/schemas.js";
import { jsonShape, MAX_JSON_DEPTH } from "../http/body.js";
import { AppError } from "../http/errors.js";
import { fieldErrors } from "../http/openapi.js";
import { LIMITS } from "../messages/schemas.js";
import { type ClientEvent, clientEvents, clientEventTypes } from "./protocol.js";

export type Parsed = { event: ClientEvent } | { error: AppError; inReplyTo?: string };

const isKnown = (t: string): t is keyof typeof clientEvents => Object.hasOwn(clientEvents, t);

/**
 * The largest frame the protocol has: a `send_message` with every field at its bound (the most
 * ciphertext, 300 post-quantum wrapped keys with the longest device ids, the longest preview, every
 * attachment), written compactly. Every other client event fits in a few hundred bytes.
 */
export function largestFrame(): string {
  const b64 = (bytes: number) => Buffer.alloc(bytes, 0xa5).toString("base64");
  const id = (i: number) => i.toString(16).padStart(24, "0");
  return JSON.stringify({
    type: "send_message",
    data: {
      conversation_id: id(0),
      encrypted_content: b64(LIMITS.contentBytes),
      content_type: "location",
      recipient_keys: Array.from({ length: LIMITS.recipientKeys }, (_, i) => ({
        user_id: id(i),
        device_id: `${i}`.padStart(64, "d"),
        encrypted_key: b64(LIMITS.wrappedKeyBytes),
        registration_id: 16380,
      })),
      reply_to: id(1),
      is_ephemeral: false,
      ttl_seconds: TTL_BOUNDS.max,
      view_once: false,
      client_message_id: "c".repeat(64),
      encrypted_preview: b64(LIMITS.previewBytes),
      attachment_ids: Array.from({ length: LIMITS.attachments }, (_, i) => id(i + 2)),
    },
  });
}

/**
 * What one frame may be: what the protocol needs (the largest frame, rounded up to 64 KiB for a
 * client's whitespace), or less where MAX_BODY_BYTES is lower, as REST bodies are bounded by it.
 */
export const PROTOCOL_FRAME_BYTES = Math.ceil(Buffer.byteLength(largestFrame()) / 65_536) * 65_536;
export const maxFrameBytes = (maxBodyBytes: number) => Math.min(maxBodyBytes, PROTOCOL_FRAME_BYTES);

/** Frames nest 4 levels at most (a send_message's recipient key); REST bodies' guard, same depth. */
export const MAX_FRAME_DEPTH = MAX_JSON_DEPTH;
/**
 * Values a frame may hold (arrays, objects, commas): the largest frame holds about 1,550. Parsing
 * costs what it must build, so past this a frame of many tiny arrays would cost several times a
 * flat one of the same size.
 */
export const MAX_FRAME_VALUES = 4_096;

/**
 * What a frame costs of its user's frame budget: one per 64 KiB begun. Parsing costs what the
 * frame weighs (the depth guard sees to that), so the budget bounds the bytes one account has the
 * server parse each minute, not only the number of frames.
 */
export const FRAME_UNIT_BYTES = 65_536;
export const frameWeight = (bytes: number) => Math.max(1, Math.ceil(bytes / FRAME_UNIT_BYTES));

/** The frame's bytes, however `ws` handed them over. */
export const frameBytes = (data: RawData) =>
  Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);

/** One client frame to a typed event, or the error naming what is wrong with it. */
export function parseFrame(data: RawData, isBinary: boolean, maxBytes: number): Parsed {
  const bytes = frameBytes(data);
  if (bytes.length > maxBytes)
    return { error: new AppError("PAYLOAD_TOO_LARGE", `Frame exceeds ${maxBytes} bytes`) };
  if (isBinary)
    return { error: new AppError("VALIDATION_ERROR", "Binary frames are not accepted; send JSON text") };
  const text = bytes.toString("utf8");
  // Counted before anything parses it, as a REST body is: a depth bomb never reaches JSON.parse.
  const shape = jsonShape(text, MAX_FRAME_DEPTH);
  if (shape.depth > MAX_FRAME_DEPTH) {
    return {
      error: new AppError("VALIDATION_ERROR", `JSON nested deeper than ${MAX_FRAME_DEPTH} levels`, {
        frame: `nests deeper than ${MAX_FRAME_DEPTH} levels`,
      }),
    };
  }
  if (shape.values > MAX_FRAME_VALUES) {
    return {
      error: new AppError("VALIDATION_ERROR", `More than ${MAX_FRAME_VALUES} JSON values in one frame`, {
        frame: `holds more than ${MAX_FRAME_VALUES} values`,
      }),
    };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { error: new AppError("INVALID_JSON", "Frame is not valid JSON") };
  }
  const type = (json as { type?: unknown } | null)?.type;
  if (typeof json !== "object" || json === null || Array.isArray(json) || typeof type !== "string") {
    return {
      error: new AppError("VALIDATION_ERROR", "A frame is a JSON object with a string `type`", {
        type: "required",
      }),
    };
  }
  if (!isKnown(type)) {
    return {
      error: new AppError("VALIDATION_ERROR", `Unknown event type '${type.slice(0, 64)}'`, {
        type: `must be one of ${clientEventTypes.join(", ")}`,
      }),
    };
  }
  const result = clientEvents[type].safeParse(json);
  if (!result.success) {
    // Named within `data`, as the same field of the same body is named by the REST route.
    const fields = Object.fromEntries(
      Object.entries(fieldErrors(result.error)).map(([k, v]) => [k.replace(/^data\./, ""), v]),
    );
    return {
      error: new AppError("VALIDATION_ERROR", `Invalid ${type}: ${Object.keys(fields).join(", ")}`, fields),
      inReplyTo: type,
    };
  }
  return { event: result.data as ClientEvent };
}
