import { z } from "@hono/zod-openapi";
import { StreamEntry, SyncPage } from "../delivery/schemas.js";
import { type ErrorCode, errorCodes } from "../http/errors.js";
import { MessageBody, SendMessage } from "../messages/schemas.js";

/*
 * The WebSocket protocol: every frame is a JSON text frame `{type, data}`, one zod schema each,
 * a discriminated union per direction. The server parses with these, the tests too, and
 * schemas/asyncapi.json is generated from them (src/realtime/asyncapi.ts).
 */

const HexId = z.string().regex(/^[0-9a-fA-F]{24}$/, "must be a 24-character hex id");
const DeviceRef = z.object({ user_id: z.string(), device_id: z.string() });
const Iso = z.string().describe("ISO 8601 time");
const event = <T extends string, D extends z.ZodType>(type: T, data: D, description: string) =>
  z.object({ type: z.literal(type), data }).describe(description);

// Client -> server.
const conversationRef = z.object({ conversation_id: HexId });
const messageRef = z.object({ message_id: HexId });

export const clientEvents = {
  typing_start: event("typing_start", conversationRef, "The user started typing in a conversation"),
  typing_stop: event("typing_stop", conversationRef, "The user stopped typing"),
  message_delivered: event(
    "message_delivered",
    messageRef,
    "This device stored the message: the sender gets a delivery receipt",
  ),
  message_read: event("message_read", messageRef, "The user read the message: a read receipt"),
  ping: z
    .object({ type: z.literal("ping"), data: z.object({}).optional() })
    .describe("Application-level heartbeat; answered by `pong`"),
  ack: event(
    "ack",
    z.object({ up_to: z.number().int().min(0).describe("The newest position the device has stored") }),
    "The device has stored every entry up to `up_to`; the server may drop them. Answered by `acked`",
  ),
  send_message: event(
    "send_message",
    SendMessage,
    "Sends a message: the same body and rules as POST /api/v1/messages (the same rate limit too). " +
      "Answered by `message_ack`, or by an `error` with the code and fields the REST call would get " +
      "(DEVICE_MISMATCH with missing_devices and extra_devices included), carrying the client_message_id",
  ),
  sync: event(
    "sync",
    z.object({
      since: z.number().int().min(0).describe("The last position the device has stored"),
      limit: z.number().int().min(1).max(500).optional().describe("Page size, 1-500 (100)"),
    }),
    "Asks for the entries after `since`, in order; answered by `sync_result`",
  ),
} as const;
export type ClientEventType = keyof typeof clientEvents;
export const clientEventTypes = Object.keys(clientEvents) as ClientEventType[];
export const ClientEvent = z.discriminatedUnion("type", [
  clientEvents.typing_start,
  clientEvents.typing_stop,
  clientEvents.message_delivered,
  clientEvents.message_read,
  clientEvents.ping,
  clientEvents.ack,
  clientEvents.sync,
  clientEvents.send_message,
]);
export type ClientEvent = z.infer<typeof ClientEvent>;

// Server -> client.
const ErrorCodeEnum = z.enum(Object.keys(errorCodes) as [ErrorCode, ...ErrorCode[]]);

export const serverEvents = {
  authenticated: event(
    "authenticated",
    z.object({
      user_id: HexId,
      connected_at: Iso,
      device_id: z.string(),
      position: z
        .number()
        .int()
        .min(0)
        .describe(
          "The device's newest stream position: later entries arrive live; sync from your own last stored position up to this one",
        ),
    }),
    "First frame on every connection",
  ),
  pong: z
    .object({ type: z.literal("pong"), timestamp: Iso })
    .describe("Answer to `ping` (HABIBTI puts the time at the top level)"),
  error: event(
    "error",
    z.object({
      message: z.string(),
      code: ErrorCodeEnum.describe("The same code a REST call would get for the same problem"),
      fields: z
        .record(z.string(), z.string())
        .optional()
        .describe("Each bad field and what is wrong with it"),
      in_reply_to: z.string().optional().describe("The type of the client frame this answers, when known"),
      client_message_id: z.string().optional().describe("For a failed send_message: the id it carried"),
      retry_after: z
        .number()
        .int()
        .min(1)
        .optional()
        .describe(
          "Seconds to wait before sending the frame again, on a retryable failure (STORE_UNAVAILABLE; RATE_LIMITED where the limiter knows)",
        ),
      missing_devices: z.array(DeviceRef).optional().describe("DEVICE_MISMATCH: devices left out"),
      extra_devices: z
        .array(DeviceRef)
        .optional()
        .describe("DEVICE_MISMATCH: devices that are not recipients"),
      stale_devices: z.array(DeviceRef).optional().describe("STALE_DEVICES: devices to re-fetch keys for"),
    }),
    "A frame could not be handled; the connection stays open unless a close follows",
  ),
  message_ack: event(
    "message_ack",
    z.object({
      client_message_id: z.string().nullable().describe("The send's client_message_id, if it had one"),
      message: MessageBody.describe("The message as POST /messages answers it"),
      replay: z.boolean().describe("True when the client_message_id was sent before: nothing new was stored"),
    }),
    "Answer to `send_message`",
  ),
  acked: event(
    "acked",
    z.object({ up_to: z.number().int().min(0) }),
    "Answer to `ack`: entries dropped up to here",
  ),
  sync_result: event("sync_result", SyncPage, "Answer to `sync`: one page of entries"),
  typing_indicator: event(
    "typing_indicator",
    z.object({ conversation_id: HexId, user_id: HexId, is_typing: z.boolean() }),
    "Another member started or stopped typing (live only, never stored)",
  ),
  user_status: event(
    "user_status",
    z.object({ user_id: HexId, online: z.boolean(), last_seen: Iso }),
    "A contact came online or went offline (live only; only users who share their status)",
  ),
} as const;
export type ServerEventType = keyof typeof serverEvents | z.infer<typeof StreamEntry>["type"];
export const ServerEvent = z.discriminatedUnion("type", [
  serverEvents.authenticated,
  serverEvents.pong,
  serverEvents.error,
  serverEvents.message_ack,
  serverEvents.acked,
  serverEvents.sync_result,
  serverEvents.typing_indicator,
  serverEvents.user_status,
  ...StreamEntry.options,
]);
export type ServerEvent = z.infer<typeof ServerEvent>;

export { type CloseName, closeCodes } from "../delivery/close.js";
