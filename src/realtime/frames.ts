import type { RawData } from "ws";
import { AppError } from "../shared/errors.js";
import { fieldErrors } from "../shared/openapi.js";
import { type ClientEvent, clientEvents, clientEventTypes } from "./protocol.js";

export type Parsed = { event: ClientEvent } | { error: AppError; inReplyTo?: string };

const isKnown = (t: string): t is keyof typeof clientEvents => Object.hasOwn(clientEvents, t);

/** One client frame to a typed event, or the error naming what is wrong with it. */
export function parseFrame(data: RawData, isBinary: boolean, maxBytes: number): Parsed {
  const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
  if (bytes.length > maxBytes)
    return { error: new AppError("PAYLOAD_TOO_LARGE", `Frame exceeds ${maxBytes} bytes`) };
  if (isBinary)
    return { error: new AppError("VALIDATION_ERROR", "Binary frames are not accepted; send JSON text") };
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString("utf8"));
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
