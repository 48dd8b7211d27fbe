import { ObjectId } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import type { EntryInput } from "../../src/delivery/change.js";
import type { Deps } from "../../src/deps.js";
import { ServerEvent } from "../../src/realtime/protocol.js";
import { addDevice, devicesIn, direct, newAccount, wire } from "../helpers/e2e.js";
import { type Hush, logIn, signUp, startHush } from "../helpers/hush.js";
import { seededRandom } from "../helpers/seed.js";
import { wsUrl } from "../helpers/ws.js";

/** Entries straight into the streams, past the door (deliver.ts): the writer alone. */
const append = (deps: Deps, inputs: readonly EntryInput[]) => deps.writer.append(inputs);

let h: Hush;
beforeAll(async () => {
  // The message burst moves the clock past the send limit's windows: tokens outlive that.
  h = await startHush({ ACCESS_TOKEN_TTL: "86400" });
});
afterAll(() => h?.close());

type Entry = { type: string; position: number; data: any };
/** Server frames that are not stream entries: everything else carries a position. */
const notEntries = new Set([
  "authenticated",
  "sync_result",
  "acked",
  "pong",
  "error",
  "message_ack",
  "typing_indicator",
  "user_status",
]);

/**
 * A device as a careful client runs it: it stores entries strictly in position order, asks for
 * what it has not got with `sync` after each (re)connect, and acknowledges now and then. It also
 * checks the server's promise on each socket: live entries come one position after another,
 * starting right after the position `authenticated` announced.
 */
class Device {
  stored: Entry[] = [];
  private pending = new Map<number, Entry>();
  private ws?: WebSocket;
  private live: { expect: number } | null = null;
  violations: string[] = [];
  connections = 0;

  constructor(
    readonly name: string,
    private token: string,
  ) {}

  get position() {
    return this.stored.at(-1)?.position ?? 0;
  }

  connect() {
    const ws = new WebSocket(`${wsUrl(h)}?token=${this.token}`);
    this.ws = ws;
    this.live = null;
    this.connections++;
    ws.on("message", (raw) => {
      const event = ServerEvent.parse(JSON.parse(raw.toString())) as { type: string } & Record<string, any>;
      if (ws !== this.ws) return;
      if (event.type === "authenticated") {
        this.live = { expect: event.data.position + 1 };
        this.syncFrom(ws);
      } else if (event.type === "sync_result") {
        for (const e of event.data.entries) this.take(e);
        if (event.data.has_more || this.position < event.data.position) this.syncFrom(ws);
      } else if (!notEntries.has(event.type)) {
        // The next position, or one past positions this device already stored (through sync) and
        // acknowledged: the server drops acknowledged entries and a socket skips what is gone.
        const next = this.live?.expect;
        if (
          next === undefined ||
          event.position < next ||
          (event.position > next && event.position - 1 > this.position)
        )
          this.violations.push(
            `${this.name}: live ${event.position}, expected ${next} (stored ${this.position})`,
          );
        if (this.live) this.live.expect = event.position + 1;
        this.take(event as Entry);
      }
    });
    ws.on("error", () => {});
  }

  /** Drops the connection abruptly, as a network cut would. */
  cut() {
    this.ws?.terminate();
    this.ws = undefined;
  }

  ack() {
    if (this.ws?.readyState === WebSocket.OPEN)
      this.ws.send(JSON.stringify({ type: "ack", data: { up_to: this.position } }));
  }

  async close() {
    this.cut();
  }

  private syncFrom(ws: WebSocket) {
    if (ws.readyState === WebSocket.OPEN)
      ws.send(JSON.stringify({ type: "sync", data: { since: this.position, limit: 100 } }));
  }

  private take(e: Entry) {
    if (e.position > this.position) this.pending.set(e.position, e);
    for (let next = this.pending.get(this.position + 1); next; next = this.pending.get(this.position + 1)) {
      this.pending.delete(next.position);
      this.stored.push(next);
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
// The chaos's choices (order, delays, acks) replay with TEST_SEED; the scheduler's timing does not.
const random = seededRandom();

/** Fisher-Yates, from the seeded draws. */
function shuffled<T>(items: T[], draw: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(draw() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/**
 * While a burst runs: cuts the devices' sockets at random moments, in rounds that take every device
 * once in a random order, reconnects each a little later, and has devices acknowledge what they
 * stored now and then. `everyCut` resolves once every device has been cut and reconnected: the
 * bursts wait for it half way, so that every device loses its socket mid-burst however fast the
 * store is. `stop` resolves once stopped.
 */
function chaos(devices: Device[]) {
  let running = true;
  let cutAll!: () => void;
  const everyCut = new Promise<void>((r) => {
    cutAll = r;
  });
  const done = (async () => {
    while (running) {
      const round = shuffled(devices, random);
      for (const d of round) {
        if (!running) break;
        await sleep(50 + random() * 200);
        if (random() < 0.3) d.ack();
        d.cut();
        await sleep(random() * 60);
        d.connect();
      }
      cutAll();
    }
  })();
  return {
    everyCut,
    stop: () => {
      running = false;
      return done;
    },
  };
}

describe("a burst of 1,000 entries with sockets cut at random", () => {
  it("leaves every device with every entry exactly once, in order", { timeout: 300_000 }, async () => {
    const a = await signUp(h);
    const second = await logIn(h, a.email, "a-second");
    const b = await signUp(h);
    const targets = [
      { user: new ObjectId(a.id), device: a.deviceId, token: a.token },
      { user: new ObjectId(a.id), device: "a-second", token: second.res.body.session_token as string },
      { user: new ObjectId(b.id), device: b.deviceId, token: b.token },
    ];
    const devices = targets.map((t) => new Device(t.device, t.token));
    for (const d of devices) d.connect();

    // What each device's stream must hold: position -> name, from what `append` placed.
    const expected = targets.map(() => new Map<number, string>());
    const TOTAL = 1_000;
    const PRODUCERS = 4;
    const BATCH = 5; // entries a producer appends at once, for every device
    let produced = 0;
    const producer = async (p: number) => {
      for (let n = p * BATCH; n < TOTAL; n += PRODUCERS * BATCH) {
        if (n >= TOTAL / 2) await cuts.everyCut;
        const names = Array.from({ length: BATCH }, (_, i) => `n${n + i}`);
        const inputs: EntryInput[] = targets.flatMap((t) =>
          names.map((name) => ({
            user_id: t.user,
            device_id: t.device,
            type: "contacts_updated" as const,
            data: { user_id: a.id, status: "accepted" as const, display_name: name },
            refs: [],
          })),
        );
        const placed = await append(h.deps, inputs);
        placed.forEach((pl, i) => {
          const d = targets.findIndex((t) => t.user.equals(pl.user_id) && t.device === pl.device_id);
          expected[d]!.set(pl.position, (inputs[i]!.data as { display_name: string }).display_name);
        });
        produced += BATCH;
      }
    };

    const cuts = chaos(devices);
    await Promise.all(Array.from({ length: PRODUCERS }, (_, p) => producer(p)));
    await cuts.stop();
    expect(produced).toBe(TOTAL);

    // Everyone reconnected: each catches up through sync, then nothing is left to get.
    for (let waited = 0; waited < 30_000; waited += 50) {
      if (devices.every((d) => d.position === TOTAL)) break;
      await sleep(50);
    }
    for (const [i, d] of devices.entries()) {
      expect(d.connections, d.name).toBeGreaterThan(1);
      expect(d.stored.map((e) => e.position)).toEqual(Array.from({ length: TOTAL }, (_, k) => k + 1));
      expect(d.stored.map((e) => e.data.display_name)).toEqual(
        d.stored.map((e) => expected[i]!.get(e.position)),
      );
      expect(new Set(d.stored.map((e) => e.data.display_name)).size).toBe(TOTAL);
      expect(d.violations).toEqual([]);
    }
    for (const d of devices) await d.close();
  });
});

describe("a burst of 1,000 messages with sockets cut at random", () => {
  it("leaves every device with every message exactly once, each sender's in order", {
    timeout: 600_000,
  }, async () => {
    const a1 = await newAccount(h);
    const a2 = await addDevice(h, a1);
    const b = await newAccount(h);
    const conversation = await direct(h, a1, b);
    const devices = [a1, a2, b].map((d) => new Device(d.deviceId, d.token));
    for (const d of devices) d.connect();

    // Two senders at once, each its messages one after another, through POST /api/v1/messages.
    // The send limit (100 a minute) is met by moving the clock on, as a minute passing would.
    const PER_SENDER = 500;
    const sent = new Map<string, string[]>([
      [a1.deviceId, []],
      [b.deviceId, []],
    ]);
    const sender = async (from: typeof a1) => {
      const to = await devicesIn(h, from, conversation);
      for (let i = 0; i < PER_SENDER; ) {
        if (i >= PER_SENDER / 2) await cuts.everyCut;
        const sealed = wire(`${from.deviceId} #${i}`, to);
        const res = await h.req("POST", "/api/v1/messages", {
          token: from.token,
          body: { conversation_id: conversation, ...sealed },
        });
        if (res.status === 429) {
          h.clock.advance(61);
          continue;
        }
        expect(res.status).toBe(201);
        sent.get(from.deviceId)!.push(res.body.id);
        i++;
      }
    };
    const cuts = chaos(devices);
    await Promise.all([sender(a1), sender(b)]);
    await cuts.stop();

    // What each device must hold: the other sender's messages, and for a2 both senders'.
    const fromA = sent.get(a1.deviceId)!;
    const fromB = sent.get(b.deviceId)!;
    const wanted = [fromB, [...fromA, ...fromB], fromA];
    const received = (d: Device) =>
      d.stored.filter((e) => e.type === "new_message").map((e) => e.data.message.id);
    for (let waited = 0; waited < 60_000; waited += 50) {
      if (devices.every((d, i) => received(d).length >= wanted[i]!.length)) break;
      await sleep(50);
    }
    for (const [i, d] of devices.entries()) {
      expect(d.connections, d.name).toBeGreaterThan(1);
      expect(d.stored.map((e) => e.position)).toEqual(
        Array.from({ length: d.stored.length }, (_, k) => k + 1),
      );
      const ids = received(d);
      expect(new Set(ids).size, d.name).toBe(ids.length);
      expect([...ids].sort(), d.name).toEqual([...wanted[i]!].sort());
      // Each sender's messages arrive in the order they were sent.
      for (const own of [fromA, fromB]) {
        const order = new Set(own);
        expect(ids.filter((id: string) => order.has(id))).toEqual(own.filter((id) => ids.includes(id)));
      }
      expect(d.violations).toEqual([]);
    }
    for (const d of devices) await d.close();
  });
});
