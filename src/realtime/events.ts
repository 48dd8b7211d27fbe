import type { ObjectId } from "mongodb";
import { mine } from "../conversations/access.js";
import { membersOf } from "../conversations/members.js";
import { parseId } from "../db/ids.js";
import { acknowledge, positionOfRef, syncPage } from "../delivery/repo.js";
import type { Deps } from "../deps.js";
import type { Auth } from "../http/openapi.js";
import { markDelivered, readMessage } from "../messages/actions.js";
import { send } from "../messages/send.js";
import { typingAudience } from "../policy/policy.js";
import { loadUser } from "../users/repo.js";
import type { ClientEvent, ServerEvent } from "./protocol.js";

/** What a handler may do with the socket its frame came on. */
export interface Socket {
  auth: Auth;
  send(event: ServerEvent): void;
}

type Handler<T extends ClientEvent["type"]> = (
  deps: Deps,
  socket: Socket,
  event: Extract<ClientEvent, { type: T }>,
) => Promise<void>;
type Handlers = { [T in ClientEvent["type"]]: Handler<T> };

/**
 * One handler per client event; each throws AppError for the client to get as an `error` event.
 * The message events go through the same functions as their REST routes, so both behave the same.
 */
export const handlers: Handlers = {
  async ping(deps, socket) {
    socket.send({ type: "pong", timestamp: deps.clock.now().toISOString() });
  },

  async ack(deps, socket, { data }) {
    const { userId, deviceId } = socket.auth;
    const upTo = await acknowledge(deps, userId, deviceId, data.up_to);
    socket.send({ type: "acked", data: { up_to: upTo } });
  },

  async sync(deps, socket, { data }) {
    socket.send({
      type: "sync_result",
      data: await syncPage(deps, socket.auth.userId, socket.auth.deviceId, data.since, data.limit ?? 100),
    });
  },

  async send_message(deps, socket, { data }) {
    const { message, replay } = await send(deps, socket.auth, data);
    socket.send({
      type: "message_ack",
      data: { client_message_id: data.client_message_id ?? null, message, replay },
    });
  },

  /** A delivery receipt, and an acknowledgement of this device's stream up to that message. */
  async message_delivered(deps, socket, { data }) {
    const { auth } = socket;
    await markDelivered(deps, auth, parseId(data.message_id, "message_id"));
    const position = await positionOfRef(deps, auth.userId, auth.deviceId, data.message_id.toLowerCase());
    if (position) await acknowledge(deps, auth.userId, auth.deviceId, position);
  },

  async message_read(deps, socket, { data }) {
    const { auth } = socket;
    const { user } = await loadUser(deps, auth.userId);
    await readMessage(deps, auth, user, parseId(data.message_id, "message_id"));
  },

  typing_start: (deps, socket, { data }) => typing(deps, socket.auth, data.conversation_id, true),
  typing_stop: (deps, socket, { data }) => typing(deps, socket.auth, data.conversation_id, false),
};

/** Live only: the other members who may see it (src/policy/policy.ts) hear it, wherever they are. */
async function typing(deps: Deps, auth: Auth, conversationId: string, isTyping: boolean) {
  const id = parseId(conversationId, "conversation_id");
  await mine(deps, id, auth.userId);
  const others = (await membersOf(deps, id)).map((m) => m.user_id).filter((u) => !u.equals(auth.userId));
  const to: ObjectId[] = await typingAudience(deps, auth.userId, others);
  if (!to.length) return;
  const userId = auth.userId.toHexString();
  await deps.bus.publish({
    kind: "live",
    to: to.map((u) => deps.bus.keys.user(u.toHexString())),
    about: userId,
    event: {
      type: "typing_indicator",
      data: { conversation_id: id.toHexString(), user_id: userId, is_typing: isTyping },
    },
  });
}
