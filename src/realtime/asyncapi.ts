import { z } from "zod";
import { StreamEntry } from "../delivery/schemas.js";
import { PROTOCOL_FRAME_BYTES } from "./frames.js";
import { clientEvents, closeCodes, serverEvents } from "./protocol.js";
import { SUBPROTOCOL, WS_PATH } from "./upgrade.js";

/*
 * The AsyncAPI 3 document of the WebSocket protocol, generated from the zod schemas in
 * protocol.ts (the ones the server parses with), served at /asyncapi.json and committed as
 * schemas/asyncapi.json. Written from the server's side: it receives client events and sends
 * server events.
 */

const jsonSchema = (schema: z.ZodType) => {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { target: "draft-7", io: "input" }) as Record<
    string,
    unknown
  >;
  return rest;
};

const closeTable = [
  "| code | meaning |",
  "| --- | --- |",
  ...Object.values(closeCodes).map(([code, meaning]) => `| ${code} | ${meaning} |`),
].join("\n");

const description = `One WebSocket a device, on the HTTP port: \`${WS_PATH}?token=<session_token>\`, or the token as a
\`Sec-WebSocket-Protocol\` value \`bearer.<token>\` offered next to \`${SUBPROTOCOL}\`. A missing, bad,
expired or revoked token gets a 401 before the upgrade; when the token expires the socket is closed
with 4004: refresh it and reconnect. Every frame is a JSON text frame \`{"type": ..., "data": ...}\`.

Every change a device must learn of is an entry in its own ordered stream, sent as
\`{"type", "position", "data"}\` as soon as it is written. \`authenticated\` carries the device's newest
position; entries after it arrive live, and \`sync\` (or GET /api/v1/sync) returns those after any
position, in order. \`ack\` lets the server drop what the device has stored. Typing and presence are
live only.

A malformed frame (not JSON, unknown type, bad fields, nested deeper than 16 levels or holding more
than 4,096 values, larger than ${PROTOCOL_FRAME_BYTES / 1024} KiB, the largest send_message) gets an
\`error\` naming the problem and the connection stays up. Past the per-user frame budget (200 units a
minute, a frame weighing one per 64 KiB begun) each frame gets an \`error\` (\`RATE_LIMITED\`); a
client that keeps on is closed with 4008. The server
pings every 30 s and cuts a socket that missed a pong. A socket whose unsent data passes the bound
is closed with 4009: reconnect and sync.

Close codes:

${closeTable}`;

const entryEvents = Object.fromEntries(StreamEntry.options.map((o) => [o.shape.type.value, o]));

export function asyncApiDocument(version: string) {
  const received = Object.entries(clientEvents);
  const sent = [...Object.entries(serverEvents), ...Object.entries(entryEvents)];
  const message = ([name, schema]: [string, z.ZodType]) => [
    name,
    {
      name,
      title: name,
      summary: schema.description ?? (name in entryEvents ? "A stream entry" : name),
      contentType: "application/json",
      payload: jsonSchema(schema),
    },
  ];
  const ref = (name: string) => ({ $ref: `#/channels/socket/messages/${name}` });
  const replies: Record<string, string> = { ping: "pong", ack: "acked", sync: "sync_result" };
  return {
    asyncapi: "3.0.0",
    info: {
      title: "Hush — HABIBTI v1 WebSocket",
      version,
      description,
    },
    defaultContentType: "application/json",
    channels: {
      socket: {
        address: WS_PATH,
        title: "A device's socket",
        messages: Object.fromEntries(
          [...received, ...sent].map(([name]) => [name, { $ref: `#/components/messages/${name}` }]),
        ),
        bindings: {
          ws: {
            method: "GET",
            query: {
              type: "object",
              properties: {
                token: {
                  type: "string",
                  description: "The session token (or the `bearer.<token>` subprotocol)",
                },
              },
            },
            bindingVersion: "0.1.0",
          },
        },
      },
    },
    operations: Object.fromEntries([
      ...received.map(([name]) => [
        `receive_${name}`,
        {
          action: "receive",
          channel: { $ref: "#/channels/socket" },
          messages: [ref(name)],
          ...(replies[name]
            ? { reply: { channel: { $ref: "#/channels/socket" }, messages: [ref(replies[name])] } }
            : {}),
        },
      ]),
      ...sent.map(([name]) => [
        `send_${name}`,
        { action: "send", channel: { $ref: "#/channels/socket" }, messages: [ref(name)] },
      ]),
    ]),
    components: {
      messages: Object.fromEntries([...received, ...sent].map((m) => message(m as [string, z.ZodType]))),
    },
  };
}

export const asyncApiJson = (version: string) => `${JSON.stringify(asyncApiDocument(version), null, 2)}\n`;
