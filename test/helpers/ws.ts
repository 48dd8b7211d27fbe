import { type ClientOptions, WebSocket } from "ws";
import { type ClientEvent, ServerEvent } from "../../src/realtime/protocol.js";
import type { Hush } from "./hush.js";

type Event = ServerEvent;
type Of<T extends Event["type"]> = Extract<Event, { type: T }>;

/**
 * A real `ws` client of a test server. Every frame it receives is checked against the server
 * event schema (the protocol's zod union), as every REST response is checked against its route.
 */
export class Client {
  readonly received: Event[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private waiters: { test: (e: Event) => boolean; resolve: (e: Event) => void }[] = [];

  constructor(readonly ws: WebSocket) {
    ws.on("message", (data) => {
      const parsed = ServerEvent.safeParse(JSON.parse(data.toString()));
      if (!parsed.success) throw new Error(`frame breaks the protocol: ${data} ${parsed.error.message}`);
      this.received.push(parsed.data);
      this.waiters = this.waiters.filter((w) => {
        if (!w.test(parsed.data)) return true;
        w.resolve(parsed.data);
        return false;
      });
    });
    this.closed = new Promise((resolve) =>
      ws.on("close", (code, reason) => resolve({ code, reason: reason.toString() })),
    );
  }

  send(event: ClientEvent | Record<string, unknown>) {
    this.ws.send(JSON.stringify(event));
  }
  sendRaw(data: string | Buffer, binary = false) {
    this.ws.send(data, { binary });
  }

  /** The next event of this type not yet taken by `next` (received before or after the call). */
  next<T extends Event["type"]>(type: T, timeoutMs = 5_000): Promise<Of<T>> {
    for (let i = 0; i < this.received.length; i++) {
      const e = this.received[i]!;
      if (e.type === type) {
        this.received.splice(i, 1);
        return Promise.resolve(e as Of<T>);
      }
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${type} within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({
        test: (e) => e.type === type,
        resolve: (e) => {
          clearTimeout(timer);
          this.received.splice(this.received.indexOf(e), 1);
          resolve(e as Of<T>);
        },
      });
    });
  }

  /** Sends an event and waits for the answer of the given type. */
  async ask<T extends Event["type"]>(event: ClientEvent | Record<string, unknown>, reply: T) {
    const answer = this.next(reply);
    this.send(event);
    return answer;
  }

  /** The events of these types received so far (left in place). */
  seen<T extends Event["type"]>(...types: T[]): Of<T>[] {
    return this.received.filter((e) => (types as string[]).includes(e.type)) as Of<T>[];
  }

  async close() {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close();
    await this.closed;
  }
}

export const wsUrl = (h: Hush) => `${h.url.replace(/^http/, "ws")}/api/v1/ws`;

/** Opens a socket with the token in the query (default) or as a subprotocol, and waits for `authenticated`. */
export async function connect(
  h: Hush,
  token: string,
  o: { via?: "query" | "protocol"; options?: ClientOptions } = {},
) {
  const ws =
    o.via === "protocol"
      ? new WebSocket(wsUrl(h), ["hush.v1", `bearer.${token}`], o.options)
      : new WebSocket(`${wsUrl(h)}?token=${encodeURIComponent(token)}`, o.options);
  const client = new Client(ws);
  const auth = client.next("authenticated");
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("unexpected-response", (_req, res) => reject(new Error(`refused with ${res.statusCode}`)));
    ws.once("error", reject);
  });
  return { client, authenticated: await auth };
}

/** Tries a handshake that should be refused; resolves with the HTTP status and JSON body. */
export function refused(url: string, protocols?: string[]) {
  return new Promise<{ status: number; body: any }>((resolve, reject) => {
    const ws = new WebSocket(url, protocols);
    ws.once("open", () => {
      ws.close();
      reject(new Error("the handshake was accepted"));
    });
    ws.once("unexpected-response", (_req, res) => {
      let text = "";
      res.on("data", (c) => {
        text += c;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : null }));
    });
    ws.once("error", () => {});
  });
}
