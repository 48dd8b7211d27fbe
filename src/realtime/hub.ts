import type { WebSocket } from "ws";
import type { Deps } from "../deps.js";
import type { Auth } from "../shared/openapi.js";
import { Connection, type HubSide } from "./connection.js";
import type { FeedEvent } from "./feed.js";
import { announce, refreshSockets, socketClosed, socketOpened } from "./presence.js";
import type { CloseName } from "./protocol.js";

/** Over-limit frames a user may keep sending in one window before their socket is closed. */
const STRIKES = 20;

/**
 * This process's sockets, indexed by user, and what happens to them on each realtime event (from
 * this process or, through the feed, from another): stream positions, closes, live events.
 */
export function createHub(deps: Deps) {
  const conns = new Set<Connection>();
  const byUser = new Map<string, Set<Connection>>();
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
    countFrame(userHex) {
      const window = Math.floor(deps.clock.now().getTime() / 60_000);
      const f = frames.get(userHex);
      const c = f && f.window === window ? f : { window, count: 0, strikes: 0 };
      frames.set(userHex, c);
      if (++c.count <= deps.config.WS_MESSAGES_PER_MINUTE) return "ok";
      return ++c.strikes > STRIKES ? "abuse" : "limited";
    },
    detached(conn) {
      conns.delete(conn);
      const mine = byUser.get(conn.userHex);
      mine?.delete(conn);
      if (mine?.size === 0) {
        byUser.delete(conn.userHex);
        frames.delete(conn.userHex);
      }
      const present = { id: conn.id, userId: conn.auth.userId, deviceId: conn.auth.deviceId };
      const after = opened.get(conn) ?? Promise.resolve();
      waitFor(
        after
          .catch(() => {})
          .then(() => socketClosed(deps, present))
          .then((last) => (last ? announce(deps, present.userId, false) : undefined)),
      );
    },
  };

  function onEvent(event: FeedEvent) {
    if (event.kind === "entries") {
      for (const t of event.targets) {
        for (const c of byUser.get(t.u) ?? []) if (c.auth.deviceId === t.d) c.notify(t.p);
      }
    } else if (event.kind === "close") {
      for (const c of byUser.get(event.user_id) ?? []) {
        if (event.device_id !== undefined && c.auth.deviceId !== event.device_id) continue;
        if (event.session_id !== undefined && c.auth.sessionId.toHexString() !== event.session_id) continue;
        c.close(event.reason);
      }
    } else if (event.kind === "live") {
      for (const u of event.users) for (const c of byUser.get(u) ?? []) c.send(event.event);
    }
  }
  const unsubscribe = deps.bus.subscribe(onEvent);

  const heartbeat = setInterval(() => {
    for (const c of conns) {
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
    async attach(ws: WebSocket, auth: Auth) {
      const conn = new Connection(deps, ws, auth, side);
      conns.add(conn);
      const userHex = conn.userHex;
      byUser.set(userHex, (byUser.get(userHex) ?? new Set()).add(conn));
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
      waitFor(open.then((first) => (first ? announce(deps, auth.userId, true) : undefined)));
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
