import type { components as Api, paths } from "./generated/api.js";
import type { components as Socket } from "./generated/socket.js";

export type { paths };
export type Schemas = Api["schemas"];
type Frames = Socket["schemas"];

export type ErrorBody = Schemas["ErrorResponse"];
export type ErrorCode = Schemas["ErrorCode"];
export type Message = Schemas["Message"];
export type Conversation = Schemas["Conversation"];
export type ConversationDevice = Schemas["ConversationDevice"];
export type ContentType = Schemas["ContentType"];
export type Attachment = Schemas["Attachment"];

/** Frames the client sends, as schemas/asyncapi.json declares them. */
export type ClientFrame =
  | Frames["typing_start"]
  | Frames["typing_stop"]
  | Frames["message_delivered"]
  | Frames["message_read"]
  | Frames["ping"]
  | Frames["ack"]
  | Frames["sync"]
  | Frames["send_message"];

/** The stream entries the AsyncAPI document declares. */
export type DeclaredEntry =
  | Frames["new_message"]
  | Frames["message_edited"]
  | Frames["message_deleted"]
  | Frames["message_status_update"]
  | Frames["message_viewed"]
  | Frames["message_expired"]
  | Frames["conversation_updated"]
  | Frames["contacts_updated"]
  | Frames["identity_changed"]
  | Frames["devices_changed"]
  | Frames["prekeys_low"]
  | Frames["erased"];

export type StreamEntry = DeclaredEntry;
export type MessageEvent = Frames["new_message"]["data"]["message"];

export type ServerFrame =
  | Frames["authenticated"]
  | Frames["pong"]
  | Frames["error"]
  | Frames["message_ack"]
  | Frames["acked"]
  | Frames["sync_result"]
  | Frames["typing_indicator"]
  | Frames["user_status"]
  | StreamEntry;

export type TypingFrame = Frames["typing_indicator"]["data"];
export type UserStatusFrame = Frames["user_status"]["data"];
