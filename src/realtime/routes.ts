import { z } from "@hono/zod-openapi";
import { bearer, route } from "../http/openapi.js";
import { SUBPROTOCOL } from "./upgrade.js";

export const ws = route({
  method: "get",
  path: "/ws",
  tags: ["Realtime"],
  security: bearer,
  operationId: "websocket",
  summary: "The WebSocket endpoint (its protocol is in /asyncapi.json)",
  description:
    "Open with a WebSocket handshake. The session token goes in `?token=` or, to keep it out of URLs " +
    `and proxy logs, as a \`Sec-WebSocket-Protocol\` value \`bearer.<token>\` offered next to \`${SUBPROTOCOL}\` ` +
    `(the server answers \`${SUBPROTOCOL}\`). A missing, bad, expired or revoked token is refused with a ` +
    "401 before the upgrade. Every frame is JSON `{type, data}`; the events, close codes and an " +
    "example session are in /asyncapi.json and docs/realtime.md. A request that is not a handshake gets a 426.",
  request: {
    query: z.object({
      token: z
        .string()
        .optional()
        .openapi({ param: { in: "query" }, description: "The session token (or use the subprotocol)" }),
    }),
  },
  responses: { 101: { description: "Switched to the WebSocket protocol" } },
  errors: ["UPGRADE_REQUIRED"],
});
