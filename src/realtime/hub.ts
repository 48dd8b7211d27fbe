import type { WebSocket } from "ws";
import type { FeedEvent } from "../delivery/bus.js";
import { refreshSockets, socketClosed, socketOpened } from "../delivery/presence.js";
import type { Deps } from "../deps.js";
import type { Auth } from "../http/openapi.js";
import { deviceConnected } from "../push/repo.js";
import { sessionForGate } from "../sessions/repo.js";
import { Connection, type HubSide } from "./connection.js";
import type { CloseName, ServerEvent } from "./protocol.js";
import { announce } from "./status.js";

/** Heartbeats between two backstop catch-ups of every socket (see the heartbeat). */
const RESYNC_EVERY = 4;
/** Over-limit frames a user may keep sending in one window before their socket is closed. */
const STRIKES = 20;

/**
 * This process's sockets, indexed by user, and what happens to them on each realtime event (from
 * this process or, through the feed, from another): stream positions, closes, live events.
 * `attached` is told of each socket as it is added (the feed tailer polls slowly with none).
 */
export function createHub(deps: Deps, attached: () => void = () => {}) {
  const conns = new Set<Connection>();
  const byUser = new Map<string, Set<Connection>>();
  /** The same sockets by the name the feed uses for their user (stream entries: deps.sockets). */
  const byUserKey = new Map<string, Set<Connection>>();
  const userKey = (c: Connection) => deps.bus.keys.user(c.userHex);
  const index = (map: Map<string, Set<Connection>>, key: string, c: Connection, add: boolean) => {
    const set = map.get(key) ?? new Set();
    if (add) map.set(key, set.add(c));
    else if (set.delete(c) && set.size === 0) map.delete(key);
  };
  const frames = new Map<string, { window: number; count: number; strikes: number }>();
  /** Presence work of closed sockets, awaited at shutdown so it finishes before the store closes. */
  const cleanups = new Set<Promise<unknown>>();
  /** Each socket's presence record, written once it is authenticated; its removal waits for it. */
  const opened = new WeakMap<Connection, Promise<unknown>>();
  const waitFor = (p: Promise<unknown>) => {
    const tracked = p.catch((err) => deps.logger.warn("presence update failed", { error: err }));
    cleanups.add(tracked);
    void tracked.finally(() => cleanups.delete(tracked));
  };

  const side: HubSide = {
    countFrame(userHex, weight) {
      const window = Math.floor(deps.clock.now().getTime() / 60_000);
      const f = frames.get(userHex);
      const c = f && f.window === window ? f : { window, count: 0, strikes: 0 };
      frames.set(userHex, c);
      c.count += weight;
      if (c.count <= deps.config.WS_MESSAGES_PER_MINUTE) return "ok";
      return ++c.strikes > STRIKES ? "abuse" : "limited";
    },
    detached(conn) {
      conns.delete(conn);
      index(byUser, conn.userHex, conn, false);
      deps.sockets.remove(conn.auth.userId, conn.auth.deviceId, conn);
      index(byUserKey, userKey(conn), conn, false);
      if (!byUser.has(conn.userHex)) frames.delete(conn.userHex);
      const present = { id: conn.id, userId: conn.auth.userId, deviceId: conn.auth.deviceId };
      const after = opened.get(conn) ?? Promise.resolve();
      waitFor(
        after
          .catch(() => {})
          .then(() => socketClosed(deps, present))
          // An account being erased is not announced: nothing may name it once it is gone.
          .then((last) =>
            last && conn.closedFor !== "ACCOUNT_DELETED" ? announce(deps, present.userId, false) : undefined,
          ),
      );
    },
  };

  function onEvent(event: FeedEvent) {
    // Entries reach the sockets through deps.sockets (src/delivery/sockets.ts).
    if (event.kind === "close") {
      const sockets = new Set(event.sockets ?? []);
      for (const c of conns) {
        if (sockets.has(c.id.toHexString()) || c.auth.sessionId.toHexString() === event.session_id)
          c.close(event.reason);
      }
    } else if (event.kind === "live") {
      // Built from the live schemas in protocol.ts by their producers (status.ts, typing).
      const live = event.event as ServerEvent;
      for (const u of event.to) for (const c of byUserKey.get(u) ?? []) c.send(live);
    }
  }
  const unsubscribe = deps.bus.subscribe(onEvent);
  deps.metrics.gauge("ws_connections", "Open WebSockets on this process", () => conns.size);

  let beats = 0;
  const heartbeat = setInterval(() => {
    // Every few beats, each socket re-reads its position and session: a backstop for a notice the
    // feed never carried (a write that failed), bounded to a couple of minutes.
    if (++beats % RESYNC_EVERY === 0) for (const c of conns) void c.resync();
    for (const c of conns) {
      if (c.expired()) continue;
      if (!c.alive) {
        c.ws.terminate();
        continue;
      }
      c.alive = false;
      c.ws.ping();
    }
    if (conns.size)
      waitFor(
        refreshSockets(
          deps,
          [...conns].map((c) => c.id),
        ),
      );
  }, deps.config.WS_HEARTBEAT_MS);
  heartbeat.unref();

  return {
    /** Sockets this process holds for a user. */
    count: (userHex: string) => byUser.get(userHex)?.size ?? 0,
    get size() {
      return conns.size;
    },

    /** Takes an upgraded socket: registered before its position is read, so no notice falls between. */
    async attach(ws: WebSocket, auth: Auth, tokenExpiresAt: Date) {
      const conn = new Connection(deps, ws, auth, side, tokenExpiresAt);
      conns.add(conn);
      index(byUser, conn.userHex, conn, true);
      deps.sockets.add(auth.userId, auth.deviceId, conn);
      index(byUserKey, userKey(conn), conn, true);
      attached();
      try {
        await conn.start();
      } catch (err) {
        deps.logger.warn("socket start failed", { error: err });
        ws.terminate();
        return;
      }
      if (!conn.isOpen) return; // closed while starting: nothing to record
      const present = { id: conn.id, userId: auth.userId, deviceId: auth.deviceId };
      const open = socketOpened(deps, present);
      opened.set(conn, open);
      waitFor(
        open.then(async (first) => {
          // A session ended while this socket was starting closed the sockets it found in presence,
          // which may not have had this one yet: look again now that it is there.
          const session = await sessionForGate(deps, auth.sessionId);
          if (!session || session.suspended_at) return conn.close(await conn.endedBy());
          if (first) await announce(deps, auth.userId, true);
          // Connected: no wake-up is owed now, and the next may come as soon as it leaves again.
          await deviceConnected(deps, auth.userId, auth.deviceId);
        }),
      );
    },

    /** Every socket catches up from the stream: after the feed cursor was lost and found again. */
    resume() {
      for (const c of conns) void c.resync();
    },

    /** Closes every socket with a code, waiting (briefly) for them and their presence updates. */
    async closeAll(name: CloseName) {
      const closed = [...conns].map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.ws.readyState === c.ws.CLOSED) return resolve();
            c.ws.once("close", () => resolve());
            c.close(name);
          }),
      );
      await Promise.race([Promise.all(closed), new Promise((r) => setTimeout(r, 2_000).unref())]);
      for (const c of conns) c.ws.terminate();
      for (let i = 0; conns.size && i < 100; i++) await new Promise((r) => setTimeout(r, 10));
      while (cleanups.size) await Promise.all([...cleanups]);
    },

    stop() {
      clearInterval(heartbeat);
      unsubscribe();
    },
  };
}
export type Hub = ReturnType<typeof createHub>;
