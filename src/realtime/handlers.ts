import type { Deps } from "../deps.js";
import { AppError } from "../shared/errors.js";
import type { Auth } from "../shared/openapi.js";
import { acknowledge, syncPage } from "../stream/repo.js";
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

/** One handler per client event; each throws AppError for the client to get as an `error` event. */
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

  async typing_start() {
    throw conversationsMissing();
  },
  async typing_stop() {
    throw conversationsMissing();
  },
  async message_delivered() {
    throw conversationsMissing();
  },
  async message_read() {
    throw conversationsMissing();
  },
};

const conversationsMissing = () => new AppError("NOT_FOUND", "Conversation or message not found");
