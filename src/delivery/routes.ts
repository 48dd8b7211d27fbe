import { bearer, json, route } from "../http/openapi.js";
import { SyncPage, SyncQuery } from "./schemas.js";

export const sync = route({
  method: "get",
  path: "/sync",
  tags: ["Realtime"],
  security: bearer,
  operationId: "sync",
  summary: "The calling device's stream entries after a position, in order",
  description:
    "Every change this device must learn of (contact changes, identity-key changes; messages, edits, " +
    "deletions, receipts and membership changes) is an entry in its own ordered stream. Live " +
    "WebSocket clients get entries as they are written; this returns those after `since`, oldest " +
    "first, `limit` at a time (`has_more` says whether to ask again from the last position). Entries " +
    "the device acknowledged (`ack` on the socket) are gone; unacknowledged ones are kept for " +
    "`STREAM_RETENTION_SECONDS` (30 days). Same answer as the socket's `sync` event; see /asyncapi.json.",
  request: { query: SyncQuery },
  responses: { 200: json(SyncPage, "One page of entries") },
});
