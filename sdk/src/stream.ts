import { type ClientStore, keys } from "./store.js";
import type { ClientFrame, ServerFrame, StreamEntry } from "./types.js";

/** The WHATWG WebSocket surface the SDK uses: `ws` in Node, the built-in one in a browser. */
export interface SocketLike {
  readonly readyState: number;
  onopen: ((e: unknown) => void) | null;
  onmessage: ((e: { data: unknown }) => void) | null;
  onclose: ((e: { code: number; reason: string }) => void) | null;
  onerror: ((e: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}
export type SocketFactory = (url: string, protocols: string[]) => SocketLike;

/** The platform's WHATWG WebSocket (browsers, Deno, Node 22+); `@hush/sdk/node` puts `ws` in its place. */
export const webSocket: SocketFactory = (url, protocols) => {
  const Ws = (globalThis as { WebSocket?: new (url: string, protocols: string[]) => SocketLike }).WebSocket;
  if (!Ws) throw new Error("no global WebSocket here: pass `socket`, or import from @hush/sdk/node");
  return new Ws(url, protocols);
};
let fallback: SocketFactory = webSocket;
/** The socket a client uses when its options name none. */
export const defaultSocket = () => fallback;
export function setDefaultSocket(f: SocketFactory) {
  fallback = f;
}

const OPEN = 1;
/** Closes after which reconnecting cannot help: device removed, account deleted. */
const FINAL = new Set([4002, 4003]);

export interface StreamOptions {
  url: string;
  store: ClientStore;
  socket: SocketFactory;
  /** The current access token, or null when the session is over. */
  token(): string | null;
  /** Called when a connection is refused or revoked (4001): refresh; false ends the stream. */
  renew(): Promise<boolean>;
  /** Applies one entry; the position is stored and acknowledged only after it resolves. */
  apply(entry: StreamEntry): Promise<void>;
  /** The position is stored: what was kept only until then (message keys) may go. */
  stored?(position: number): Promise<void>;
  /** Every frame that is not a stream entry (receipts of sends, typing, presence, errors...). */
  frame(frame: ServerFrame): void;
  ended(code: number, reason: string): void;
}

/**
 * The device's stream over one socket (docs/realtime.md): entries are applied strictly in
 * position order, each once; a gap is filled with `sync`; the last applied position is stored
 * before it is acknowledged, so a device that dies at any point resumes from the right place.
 * The token travels as a Sec-WebSocket-Protocol, never in the URL.
 */
export class DeviceStream {
  private ws: SocketLike | null = null;
  private stopped = false;
  private position = 0;
  private acked = 0;
  private head = 0;
  private readonly pending = new Map<number, { entry: StreamEntry; synced: boolean }>();
  private syncing: number | null = null;
  /** A sync after `since` that found nothing: no need to ask again for the same `since`. */
  private emptyAfter = -1;
  private draining = false;
  private backoff = 100;
  private idleWaiters: (() => void)[] = [];
  private connectedWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private lastError: Error | null = null;
  connected = false;

  constructor(private readonly o: StreamOptions) {}

  /** Connects; resolves once authenticated (catching up continues; see `idle`). */
  async start(): Promise<void> {
    this.position = (await this.o.store.get<number>(keys.position)) ?? 0;
    this.acked = this.position;
    this.stopped = false;
    const ready = new Promise<void>((resolve, reject) => this.connectedWaiters.push({ resolve, reject }));
    this.open();
    return ready;
  }

  /** The last position applied and stored. */
  get stored() {
    return this.position;
  }

  send(frame: ClientFrame) {
    if (this.ws?.readyState !== OPEN) throw new Error("the socket is not open");
    this.ws.send(JSON.stringify(frame));
  }

  /** Resolves when everything the server announced has been applied. */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  stop() {
    this.stopped = true;
    this.ws?.close(1000, "bye");
    this.ws = null;
  }

  /** Drops the connection without a goodbye, as a crash would (for tests and demos). */
  kill() {
    this.stopped = true;
    const ws = this.ws as unknown as { terminate?: () => void } | null;
    if (ws?.terminate) ws.terminate();
    else this.ws?.close();
    this.ws = null;
  }

  private open() {
    const token = this.o.token();
    if (!token) return this.fail(new Error("no session"));
    const ws = this.o.socket(this.o.url, ["hush.v1", `bearer.${token}`]);
    this.ws = ws;
    let authenticated = false;
    ws.onmessage = (e) => {
      let frame: ServerFrame;
      try {
        frame = JSON.parse(String(e.data));
      } catch {
        return;
      }
      if (frame.type === "authenticated") {
        authenticated = true;
        this.connected = true;
        this.backoff = 100;
        this.head = Math.max(this.head, frame.data.position);
        for (const w of this.connectedWaiters.splice(0)) w.resolve();
        this.o.frame(frame);
        this.pump();
        return;
      }
      this.receive(frame);
    };
    ws.onerror = () => {};
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.connected = false;
      this.syncing = null;
      if (this.stopped) return;
      if (FINAL.has(e.code)) return this.end(e.code, e.reason);
      // Refused at the handshake (an expired token looks like this) or revoked: renew first.
      const renew = !authenticated || e.code === 4001;
      void this.reconnect(renew, e);
    };
  }

  private async reconnect(renew: boolean, e: { code: number; reason: string }) {
    if (renew && !(await this.o.renew().catch(() => false)))
      return this.end(e.code || 4001, e.reason || "session ended");
    await new Promise((r) => setTimeout(r, this.backoff));
    this.backoff = Math.min(this.backoff * 2, 5_000);
    if (!this.stopped) this.open();
  }

  private end(code: number, reason: string) {
    this.stopped = true;
    this.fail(new Error(`stream ended: ${code} ${reason}`));
    this.o.ended(code, reason);
  }

  private fail(e: Error) {
    this.lastError = e;
    for (const w of this.connectedWaiters.splice(0)) w.reject(e);
    for (const w of this.idleWaiters.splice(0)) w();
  }

  private receive(frame: ServerFrame) {
    if (frame.type === "sync_result") {
      const since = this.syncing ?? this.position;
      this.syncing = null;
      const { entries, has_more, position } = frame.data;
      this.head = Math.max(this.head, position);
      if (entries.length === 0) this.emptyAfter = since;
      for (const entry of entries)
        if (entry.position > this.position) this.pending.set(entry.position, { entry, synced: true });
      if (has_more) this.emptyAfter = -1;
      this.pump();
      return;
    }
    if ("position" in frame && typeof frame.position === "number") {
      const entry = frame as StreamEntry;
      this.head = Math.max(this.head, entry.position);
      if (entry.position > this.position + 1) this.emptyAfter = -1;
      if (entry.position > this.position && !this.pending.has(entry.position))
        this.pending.set(entry.position, { entry, synced: false });
      this.pump();
      return;
    }
    this.o.frame(frame);
  }

  private next() {
    let min = Number.POSITIVE_INFINITY;
    for (const p of this.pending.keys()) if (p < min) min = p;
    if (min === Number.POSITIVE_INFINITY) return null;
    const item = this.pending.get(min)!;
    // A sync page holds every entry the server has after `since`: a jump inside it is a
    // position that was acknowledged or expired, not one still on its way.
    return min === this.position + 1 || item.synced ? item : null;
  }

  private pump() {
    if (this.draining) return;
    this.draining = true;
    void (async () => {
      try {
        for (let item = this.next(); item && !this.stopped; item = this.next()) {
          const { entry } = item;
          this.pending.delete(entry.position);
          await this.o.apply(entry).catch(() => {});
          this.position = entry.position;
          await this.o.store.set(keys.position, this.position);
          await this.o.stored?.(this.position).catch(() => {});
        }
      } finally {
        this.draining = false;
      }
      this.afterDrain();
    })();
  }

  private afterDrain() {
    for (const p of [...this.pending.keys()]) if (p <= this.position) this.pending.delete(p);
    const open = this.ws?.readyState === OPEN && this.connected;
    if (open && this.position > this.acked) {
      this.acked = this.position;
      this.send({ type: "ack", data: { up_to: this.position } });
    }
    const behind = this.pending.size > 0 || this.head > this.position;
    if (open && behind && this.syncing === null && this.emptyAfter !== this.position) {
      this.syncing = this.position;
      this.send({ type: "sync", data: { since: this.position, limit: 200 } });
    }
    if (this.isIdle()) for (const w of this.idleWaiters.splice(0)) w();
  }

  private isIdle() {
    if (this.lastError && this.stopped) return true;
    return (
      !this.draining &&
      this.syncing === null &&
      this.pending.size === 0 &&
      (this.head <= this.position || this.emptyAfter === this.position)
    );
  }
}
