import type { ObjectId } from "mongodb";
import type { Bus, FeedEvent } from "./bus.js";
import type { StreamEntryBody } from "./schemas.js";

/*
 * Step 5 of delivery (deliver.ts lists them all): this process's sockets, by device
 * (deps.sockets). Each notice of new positions, from this process's appends at once or from
 * another process through the feed, reaches the sockets of its devices here; the wake-up
 * (wake.ts) asks which devices have one. The WebSocket adapter (src/realtime/hub.ts) adds each
 * socket it opens and removes it when it closes.
 */

/** What delivery asks of a socket: the device has an entry at `position` (`entry`, if written here). */
export interface Receiver {
  notify(position: number, entry?: StreamEntryBody): void;
}

export class LocalSockets {
  /** By the feed's name for a device's stream (a keyed hash, bus.ts). */
  private readonly byStream = new Map<string, Set<Receiver>>();
  /** How many sockets each device (`<user>:<device>`) has open here. */
  private readonly perDevice = new Map<string, number>();

  constructor(private readonly bus: Bus) {
    bus.subscribe((event) => this.deliver(event));
  }

  add(userId: ObjectId, deviceId: string, socket: Receiver) {
    const key = this.bus.keys.stream(userId.toHexString(), deviceId);
    const set = this.byStream.get(key) ?? new Set();
    if (set.has(socket)) return;
    this.byStream.set(key, set.add(socket));
    this.count(userId, deviceId, 1);
  }

  remove(userId: ObjectId, deviceId: string, socket: Receiver) {
    const key = this.bus.keys.stream(userId.toHexString(), deviceId);
    const set = this.byStream.get(key);
    if (!set?.delete(socket)) return;
    if (!set.size) this.byStream.delete(key);
    this.count(userId, deviceId, -1);
  }

  /** Whether the device (`<user>:<device>`) has a socket open on this process. */
  has(deviceKey: string) {
    return this.perDevice.has(deviceKey);
  }

  private count(userId: ObjectId, deviceId: string, delta: 1 | -1) {
    const key = `${userId.toHexString()}:${deviceId}`;
    const n = (this.perDevice.get(key) ?? 0) + delta;
    if (n > 0) this.perDevice.set(key, n);
    else this.perDevice.delete(key);
  }

  private deliver(event: FeedEvent) {
    if (event.kind !== "entries") return;
    for (const t of event.targets) {
      for (const s of this.byStream.get(t.k) ?? []) s.notify(t.p, t.entry as StreamEntryBody | undefined);
    }
  }
}
