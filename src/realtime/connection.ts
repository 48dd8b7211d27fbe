import { ObjectId } from "mongodb";
import type { RawData, WebSocket } from "ws";
import { storeTimeouts } from "../db/store.js";
import { noteStoreTrouble, storeUnavailable, withinStoreBound } from "../db/unavailable.js";
import { currentPosition, readRange } from "../delivery/repo.js";
import type { StreamEntryBody } from "../delivery/schemas.js";
import type { Deps } from "../deps.js";
import { findDevice } from "../devices/repo.js";
import { AppError, errorBody } from "../http/errors.js";
import type { Auth } from "../http/openapi.js";
import { sessionForGate } from "../sessions/repo.js";
import { findUser } from "../users/repo.js";
import { handlers } from "./events.js";
import { frameBytes, frameWeight, maxFrameBytes, parseFrame } from "./frames.js";
import { type ClientEvent, type CloseName, closeCodes, type ServerEvent } from "./protocol.js";

/** What a connection asks of the hub that holds it. */
export interface HubSide {
  /** Counts a frame of `weight` units (frameWeight) against the user's budget. */
  countFrame(userHex: string, weight: number): "ok" | "limited" | "abuse";
  detached(conn: Connection): void;
}

/** Frames a client may have waiting for their turn before the socket stops reading from it. */
const MAX_QUEUED = 16;
/** Entries read from the stream at a time when a socket catches up. */
const PAGE = 100;
/** How long a closing socket may take to flush its close frame before it is cut. */
const CLOSE_GRACE_MS = 5_000;

/**
 * One authenticated socket. Stream entries reach it in position order, each exactly once: the
 * socket remembers the last position it sent and, told that a newer one exists, reads what lies
 * between from the stream (where every position up to a written one is written too) and sends it.
 * Client frames are handled one at a time, in order.
 */
export class Connection {
  readonly id = new ObjectId();
  readonly userHex: string;
  /** Set by pongs; the heartbeat cuts a socket that has not answered since the previous beat. */
  alive = true;
  private sent = -1; // the last position sent; -1 until `authenticated` is out
  private target = 0; // the newest position known to exist
  private pumping = false;
  private closed = false;
  private queue: Promise<void> = Promise.resolve();
  private queued = 0;
  private gone = false;
  /** Why the server closed it, if it did. */
  closedFor: CloseName | null = null;
  private readonly expiryTimer: NodeJS.Timeout;

  constructor(
    private readonly deps: Deps,
    readonly ws: WebSocket,
    readonly auth: Auth,
    private readonly hub: HubSide,
    /** When the access token it was opened with expires: the socket closes then (4004). */
    private readonly tokenExpiresAt: Date,
  ) {
    this.userHex = auth.userId.toHexString();
    // On time with a real clock; the heartbeat and every frame check it too (an injected clock).
    const left = tokenExpiresAt.getTime() - deps.clock.now().getTime();
    this.expiryTimer = setTimeout(() => this.expired(), Math.min(Math.max(left, 0), 2 ** 31 - 1));
    this.expiryTimer.unref();
    ws.on("message", (data, isBinary) => this.frame(data, isBinary));
    ws.on("pong", () => {
      this.alive = true;
    });
    ws.on("close", () => this.detach());
    ws.on("error", () => this.ws.terminate());
  }

  get isOpen() {
    return !this.closed;
  }

  /**
   * Closes the socket with 4004 once its access token has expired (REST answers 401 from then on):
   * the client refreshes its token and reconnects. True when it is (now) closed for that.
   */
  expired(): boolean {
    if (this.closed || this.deps.clock.now() < this.tokenExpiresAt) return false;
    this.close("TOKEN_EXPIRED");
    return true;
  }

  /** Sends `authenticated` with the device's position; entries after it follow live. */
  async start() {
    const position = await currentPosition(this.deps, this.auth.userId, this.auth.deviceId);
    this.sent = position;
    this.target = Math.max(this.target, position);
    this.send({
      type: "authenticated",
      data: {
        user_id: this.userHex,
        connected_at: this.deps.clock.now().toISOString(),
        device_id: this.auth.deviceId,
        position,
      },
    });
    this.pump();
  }

  /**
   * The device has an entry at `position`; `entry` is it, when it was written in this process. The
   * very next position, with nothing being read, goes straight out; anything else is read in order.
   */
  notify(position: number, entry?: StreamEntryBody) {
    if (position <= this.target) return;
    this.target = position;
    if (entry && position === this.sent + 1 && !this.pumping && !this.closed) {
      this.send(entry);
      this.sent = position;
      return;
    }
    this.pump();
  }

  /** After this process lost the feed for a while: catch up from the stream, re-check the session. */
  async resync() {
    if (this.closed || this.sent < 0) return;
    try {
      const session = await sessionForGate(this.deps, this.auth.sessionId);
      if (!session || session.suspended_at || session.expires_at <= this.deps.clock.now()) {
        return this.close(await this.endedBy());
      }
      this.notify(await currentPosition(this.deps, this.auth.userId, this.auth.deviceId));
    } catch (err) {
      this.deps.logger.warn("socket resync failed", { error: err });
    }
  }

  /** Why the session is gone, as far as can still be told: its account or device went, or just it. */
  async endedBy(): Promise<CloseName> {
    const { userId, deviceId } = this.auth;
    const user = await findUser(this.deps, userId);
    if (!user) return "ACCOUNT_DELETED";
    if (user.status === "suspended") return "ACCOUNT_SUSPENDED";
    if (!(await findDevice(this.deps, userId, deviceId))) return "DEVICE_REMOVED";
    return "SESSION_ENDED";
  }

  send(event: ServerEvent) {
    if (this.closed || this.ws.readyState !== this.ws.OPEN) return;
    this.ws.send(JSON.stringify(event));
    // Never buffered without bound: a socket that cannot keep up goes, and catches up with sync.
    if (this.ws.bufferedAmount > this.deps.config.WS_MAX_BUFFERED_BYTES) this.close("SLOW_CONSUMER");
  }

  close(name: CloseName) {
    if (this.closed) return;
    this.closed = true;
    this.closedFor = name;
    this.deps.metrics.inc("ws_closes_total", "WebSockets the server closed, by reason", { reason: name });
    const [code, reason] = closeCodes[name];
    this.ws.close(code, reason);
    setTimeout(() => this.ws.terminate(), CLOSE_GRACE_MS).unref();
  }

  private async pump() {
    if (this.pumping || this.sent < 0) return;
    this.pumping = true;
    try {
      while (!this.closed && this.target > this.sent) {
        const upTo = Math.min(this.target, this.sent + PAGE);
        const entries = await readRange(this.deps, this.auth.userId, this.auth.deviceId, this.sent, upTo);
        for (const entry of entries) {
          if (this.closed) return;
          if (entry.position <= this.sent) continue;
          this.send(entry);
          this.sent = entry.position;
        }
        // Positions in between that are gone were acknowledged (by another socket of the device) or expired.
        this.sent = Math.max(this.sent, upTo);
      }
    } catch (err) {
      this.deps.logger.warn("stream delivery failed; retrying", { error: err });
      setTimeout(() => this.pump(), 1_000).unref();
    } finally {
      this.pumping = false;
    }
  }

  private frame(data: RawData, isBinary: boolean) {
    if (this.closed || this.expired()) return;
    const bytes = frameBytes(data);
    const budget = this.hub.countFrame(this.userHex, frameWeight(bytes.length));
    if (budget === "abuse") return this.close("RATE_LIMITED");
    if (budget === "limited") {
      const limit = this.deps.config.WS_MESSAGES_PER_MINUTE;
      return this.fail(new AppError("RATE_LIMITED", `More than ${limit} frames a minute; slow down`));
    }
    const parsed = parseFrame(bytes, isBinary, maxFrameBytes(this.deps.config.MAX_BODY_BYTES));
    if ("error" in parsed) return this.fail(parsed.error, parsed.inReplyTo);
    if (++this.queued > MAX_QUEUED) this.ws.pause();
    this.queue = this.queue
      .then(() => this.handle(parsed.event))
      .finally(() => {
        if (--this.queued <= MAX_QUEUED / 2 && this.ws.isPaused) this.ws.resume();
      });
  }

  private async handle(event: ClientEvent) {
    if (this.closed) return;
    try {
      const handler = handlers[event.type] as (d: Deps, s: Connection, e: ClientEvent) => Promise<void>;
      const bound = this.deps.config.STORE_TIMEOUT_MS + storeTimeouts.selectionMs;
      await withinStoreBound(this.deps.store, bound, this.deps.load.track(handler(this.deps, this, event)));
    } catch (err) {
      // A failed send names its client_message_id, so the client knows which one failed.
      const id = event.type === "send_message" ? event.data.client_message_id : undefined;
      const extra = id ? { client_message_id: id } : {};
      if (err instanceof AppError) return this.fail(err, event.type, extra);
      if (noteStoreTrouble(this.deps.store, this.deps.clock.now(), err)) {
        this.deps.logger.warn("store unavailable", { type: event.type, error: err });
        return this.fail(storeUnavailable(), event.type, extra);
      }
      this.deps.logger.error("socket event failed", { type: event.type, error: err });
      this.fail(new AppError("INTERNAL_ERROR"), event.type, extra);
    }
  }

  private fail(e: AppError, inReplyTo?: string, extra: { client_message_id?: string } = {}) {
    const { detail, ...rest } = errorBody(e);
    const retryAfter = e.headers?.["Retry-After"];
    this.send({
      type: "error",
      data: {
        message: detail,
        ...rest,
        ...(inReplyTo ? { in_reply_to: inReplyTo } : {}),
        ...extra,
        ...(retryAfter ? { retry_after: Number(retryAfter) } : {}),
      },
    });
  }

  private detach() {
    if (this.gone) return;
    this.gone = true;
    clearTimeout(this.expiryTimer);
    this.closed = true;
    this.hub.detached(this);
  }
}
