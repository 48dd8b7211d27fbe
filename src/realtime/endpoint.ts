import { WebSocketServer } from "ws";
import { settleAppends } from "../delivery/append.js";
import { startTail } from "../delivery/tail.js";
import { settlePushes } from "../delivery/wake.js";
import type { Deps } from "../deps.js";
import { maxFrameBytes } from "./frames.js";
import { createHub } from "./hub.js";
import { SUBPROTOCOL, upgradeHandler } from "./upgrade.js";

/**
 * The realtime endpoint of one server process: the `ws` server (no port of its own: it takes
 * upgrades from the HTTP server), this process's sockets, and the feed tailer that brings other
 * processes' events. Shutdown is two steps, so the HTTP server can drain in between.
 */
export function createRealtime(deps: Deps) {
  const wss = new WebSocketServer({
    noServer: true,
    // Frames up to what the protocol needs are read and judged (a larger one gets an `error`);
    // past four times that the frame is not even read and the socket closes with 1009.
    maxPayload: 4 * maxFrameBytes(deps.config.MAX_BODY_BYTES),
    perMessageDeflate: false,
    handleProtocols: (offered) => (offered.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
  });
  const hub = createHub(deps, () => tail.wake());
  const tail = startTail(
    deps,
    () => hub.resume(),
    () => hub.size > 0,
  );
  let accepting = true;

  return {
    hub,
    upgrade: upgradeHandler(deps, wss, hub, () => accepting),
    /** Refuses new sockets and closes the open ones with 1001 (going away). */
    async closeSockets() {
      accepting = false;
      await hub.closeAll("SHUTDOWN");
    },
    /**
     * Stops the background units: heartbeat, feed tailer, and waits for the stream writes in
     * flight. Safe to call twice.
     */
    async stop() {
      accepting = false;
      hub.stop();
      await tail.stop();
      await settleAppends(deps);
      await settlePushes(deps);
      wss.close();
    },
  };
}
export type Realtime = ReturnType<typeof createRealtime>;
