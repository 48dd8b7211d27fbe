import { ConversationIdParam } from "../conversations/schemas.js";
import { bearer, json, jsonBody, route } from "../http/openapi.js";
import {
  DeleteMessage,
  Done,
  EditMessage,
  HistoryQuery,
  LIMITS,
  MessageBody,
  MessageIdParam,
  MessagePage,
  OpenedKey,
  ReadMany,
  ReadResult,
  SendMessage,
} from "./schemas.js";

const tags = ["Messages"];
/** HABIBTI's table. */
export const sendRule = { name: "messages-send", limit: 100, windowSeconds: 60 };
const hidden =
  "A message in a conversation the caller is not in, sent before they joined, or deleted for them " +
  "answers 404 NOT_FOUND, as one that does not exist.";
const deviceCheck =
  "`recipient_keys` must name exactly every current device of every other member and every other " +
  "device of the sender (the sending device may name itself): otherwise 409 DEVICE_MISMATCH with " +
  "`missing_devices` and `extra_devices`, so the client fetches those keys and retries. A key whose " +
  "`registration_id` the device no longer has is 410 STALE_DEVICES with `stale_devices`. In a 1:1 " +
  "conversation the other person's rules apply to every message (a block or contacts-only setting: " +
  "403 FORBIDDEN).";

export const sendMessage = route({
  method: "post",
  path: "/messages",
  tags,
  security: bearer,
  operationId: "sendMessage",
  summary: "Send an end-to-end encrypted message",
  description:
    "The client encrypts the content once with a fresh key and wraps that key for each recipient " +
    `device. ${deviceCheck} With a \`client_message_id\`, a retry (or a racing duplicate) within 24 h ` +
    "returns the first message with 200 and stores and announces nothing (409 INVALID_STATE once that " +
    "message has expired). The answer carries only the " +
    "sending device's own key entry, if it named itself. `attachment_ids` hands uploaded attachments to " +
    "the message (see the field). " +
    `Limited to ${sendRule.limit} messages a minute per user. A conversation the caller is not in is 404.`,
  request: jsonBody(SendMessage),
  responses: {
    201: json(MessageBody, "Stored"),
    200: json(MessageBody, "A retry: the message the first send with this client_message_id stored"),
  },
  errors: ["NOT_FOUND", "FORBIDDEN", "INVALID_STATE", "DEVICE_MISMATCH", "STALE_DEVICES", "RATE_LIMITED"],
});

export const listMessages = route({
  method: "get",
  path: "/messages/conversations/{conversation_id}/messages",
  tags,
  security: bearer,
  sessionAlongside: true,
  operationId: "listMessages",
  summary: "A page of a conversation's history",
  description:
    "Without a cursor, the newest messages; `before` or `after` (message ids) page back or forward " +
    "from a message. Messages come oldest first. Each carries only the calling device's own key " +
    "entry. Messages deleted for the caller are absent; those deleted for everyone are tombstones " +
    "(`is_deleted`, no content, no keys). A member sees the messages sent after they joined. " +
    "A conversation the caller is not in is 404.",
  request: { params: ConversationIdParam, query: HistoryQuery },
  responses: { 200: json(MessagePage, "A page") },
  errors: ["NOT_FOUND"],
});

export const readMessages = route({
  method: "post",
  path: "/messages/read",
  tags,
  security: bearer,
  operationId: "readMessages",
  summary: "Mark several messages read (Echo's batch)",
  description:
    `Up to ${LIMITS.batchRead} ids; those the caller cannot see are skipped. \`marked_count\` is how ` +
    "many were not read before. See readMessage for what reading does.",
  request: jsonBody(ReadMany),
  responses: { 200: json(ReadResult, "Marked") },
});

export const readMessage = route({
  method: "post",
  path: "/messages/{message_id}/read",
  tags,
  security: bearer,
  operationId: "readMessage",
  summary: "Mark a message read",
  description:
    "It leaves the caller's unread count; the caller appears in the sender's `read_by` only when " +
    `their \`read_receipts\` setting is on. Idempotent. ${hidden}`,
  request: { params: MessageIdParam },
  responses: { 200: json(Done, "Marked") },
  errors: ["NOT_FOUND"],
});

export const deliveredMessage = route({
  method: "post",
  path: "/messages/{message_id}/delivered",
  tags,
  security: bearer,
  operationId: "messageDelivered",
  summary: "Confirm the calling device received a message",
  description: `Listed in the sender's \`delivered_to\`, once per device. Idempotent. ${hidden}`,
  request: { params: MessageIdParam },
  responses: { 200: json(Done, "Recorded") },
  errors: ["NOT_FOUND"],
});

export const editMessage = route({
  method: "put",
  path: "/messages/{message_id}",
  tags,
  security: bearer,
  operationId: "editMessage",
  summary: "Replace a message's ciphertext (sender only, within 15 minutes)",
  description:
    "New ciphertext under a new key, with a full `recipient_keys` list checked as for a send. " +
    `${deviceCheck} Sets \`edited_at\`. Someone else's message is 403; after ` +
    `${LIMITS.editWindowSeconds / 60} minutes, or once deleted, 409 INVALID_STATE. ${hidden}`,
  request: { params: MessageIdParam, ...jsonBody(EditMessage) },
  responses: { 200: json(MessageBody, "Edited") },
  errors: ["NOT_FOUND", "FORBIDDEN", "INVALID_STATE", "DEVICE_MISMATCH", "STALE_DEVICES"],
});

export const deleteMessage = route({
  method: "delete",
  path: "/messages/{message_id}",
  tags,
  security: bearer,
  operationId: "deleteMessage",
  summary: "Delete a message for the caller, or for everyone",
  description:
    "`delete_for_everyone: false` (the default, also without a body) hides it from the caller only. " +
    "`true` is for its sender, within an hour of sending: the ciphertext, every wrapped key and the " +
    "attachments it carries are erased and a tombstone remains. Someone else's message is 403; after the hour, 409 INVALID_STATE. " +
    hidden,
  request: {
    params: MessageIdParam,
    body: { content: { "application/json": { schema: DeleteMessage } }, required: false },
  },
  responses: { 200: json(Done, "Deleted") },
  errors: ["NOT_FOUND", "FORBIDDEN", "INVALID_STATE"],
});

export const openMessage = route({
  method: "post",
  path: "/messages/{message_id}/open",
  tags,
  security: bearer,
  operationId: "openViewOnceMessage",
  summary: "Take the calling device's key of a view-once message, once",
  description:
    "A view-once message reaches its recipients without their wrapped keys; this hands the calling " +
    "device its own, and erases it in the same step. Any later call for that device, from any " +
    "session, is 410 VIEW_ONCE_OPENED (so is a message whose ciphertext is already erased); of racing " +
    "calls exactly one succeeds. The sender's devices are told (`message_viewed`) unless the caller's " +
    "`read_receipts` setting is off. Once every recipient device has opened it, the ciphertext and " +
    "the attachments it carries are erased and a tombstone remains: a client downloads a view-once " +
    "message's attachments (useless without the key) before opening it. A message that is not " +
    `view-once, or the sender's own, is 409 INVALID_STATE. ${hidden}`,
  request: { params: MessageIdParam },
  responses: { 200: json(OpenedKey, "The calling device's key, now erased from the server") },
  errors: ["NOT_FOUND", "INVALID_STATE", "VIEW_ONCE_OPENED"],
});
