import { randomBytes } from "node:crypto";
import { ObjectId } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { settleAppends } from "../../src/delivery/append.js";
import { MAX_ATTEMPTS, sendDuePushes, settlePushes } from "../../src/delivery/wake.js";
import { addDevice, type Device, direct, newAccount, send } from "../helpers/e2e.js";
import { type Hush, startHush } from "../helpers/hush.js";
import {
  type PushDevice,
  type PushReceiver,
  startPushReceiver,
  verifyVapid,
} from "../helpers/push-receiver.js";
import { connect } from "../helpers/ws.js";

/*
 * Web Push end to end: two server processes' worth of state (apps, buses, sockets) on one database,
 * and a real push service on loopback that checks every push as the device and the service would.
 */

let a: Hush;
let b: Hush;
let rx: PushReceiver;
const dbName = `hush_push_${randomBytes(4).toString("hex")}`;
const env = {
  JWT_SECRET: randomBytes(32).toString("hex"),
  PUSH_ALLOW_PRIVATE: "true",
  PUSH_CONTACT: "mailto:ops@example.org",
  PUSH_TIMEOUT_MS: "1000",
};
beforeAll(async () => {
  rx = await startPushReceiver();
  a = await startHush(env, { dbName });
  b = await startHush(env, { dbName });
});
afterAll(async () => {
  await a?.close();
  await b?.close();
  await rx?.close();
});

/** Waits for what `a` is doing in the background: appends and the pushes they started. */
const settle = async (h: Hush = a) => {
  await settleAppends(h.deps);
  await settlePushes(h.deps);
};
const subscribe = async (d: Device, p: PushDevice, h: Hush = a) =>
  expect(
    (await h.req("PUT", "/api/v1/push/subscription", { token: d.token, body: p.subscription })).status,
  ).toBe(204);
const subscriptionOf = (d: Device) =>
  a.raw("push_subscriptions").findOne({ user_id: new ObjectId(d.userId), device_id: d.deviceId });
/** The two processes' fake clocks at the same time (the later of the two). */
function syncClocks() {
  const gap = (a.clock.now().getTime() - b.clock.now().getTime()) / 1000;
  if (gap > 0) b.clock.advance(gap);
  else a.clock.advance(-gap);
}
/** A sender, a sleeping subscribed recipient and their conversation. */
async function scene() {
  syncClocks();
  const sender = await newAccount(a);
  const sleeper = await newAccount(a);
  const conversation = await direct(a, sender, sleeper);
  const phone = rx.device();
  await subscribe(sleeper, phone);
  const say = async (text: string) => {
    const { res } = await send(a, sender, conversation, text);
    expect(res.status).toBe(201);
    await settle();
    return res.body;
  };
  return { sender, sleeper, conversation, phone, say };
}
/** Waits (bounded) until the store says a device has `n` sockets open (and, for one, that it is re-armed). */
async function socketsAre(d: Device, n: number) {
  for (let i = 0; i < 200; i++) {
    const live = await a.raw("presence").countDocuments({ device_id: d.deviceId });
    const armed = !(await subscriptionOf(d))?.woken_at;
    // Connected: the hub has also re-armed its wake-up (src/realtime/hub.ts).
    if (live === n && (n === 0 || armed)) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`${d.deviceId} never had ${n} sockets`);
}
const sweep = async (h: Hush = a) => {
  const taken = await sendDuePushes(h.deps, h.clock.now());
  await settle(h);
  return taken;
};

describe("subscriptions", () => {
  it("GET /push/vapid is one key for every process, made once and kept in the database", async () => {
    const { token } = await newAccount(a);
    const [fromA, fromB] = [
      await a.req("GET", "/api/v1/push/vapid", { token }),
      await b.req("GET", "/api/v1/push/vapid", { token }),
    ];
    expect(fromA.status).toBe(200);
    expect(Buffer.from(fromA.body.public_key, "base64url")).toHaveLength(65);
    expect(fromB.body.public_key).toBe(fromA.body.public_key);
    expect(await a.raw("push_vapid_keys").countDocuments({})).toBe(1);
  });

  it("VAPID_PRIVATE_KEY, when set, is the key", async () => {
    const key = "q5bYh5eTq7Gk7d9qTgq6xvBUeXjU6bUnhZKRHk7-8s0";
    const h = await startHush({ VAPID_PRIVATE_KEY: key });
    try {
      const { token } = await newAccount(h);
      const res = await h.req("GET", "/api/v1/push/vapid", { token });
      const { createECDH } = await import("node:crypto");
      const ecdh = createECDH("prime256v1");
      ecdh.setPrivateKey(Buffer.from(key, "base64url"));
      expect(res.body.public_key).toBe(ecdh.getPublicKey().toString("base64url"));
      expect(await h.raw("push_vapid_keys").countDocuments({})).toBe(0);
    } finally {
      await h.close();
    }
  });

  it("PUT replaces the device's subscription, DELETE removes it, logout removes it", async () => {
    const d = await newAccount(a);
    const [first, second] = [rx.device(), rx.device()];
    await subscribe(d, first);
    await subscribe(d, second);
    expect(await subscriptionOf(d)).toMatchObject({ endpoint: second.subscription.endpoint });
    expect((await a.req("DELETE", "/api/v1/push/subscription", { token: d.token })).status).toBe(204);
    expect(await subscriptionOf(d)).toBeNull();
    await subscribe(d, first);
    expect((await a.req("POST", "/api/v1/auth/logout", { token: d.token })).status).toBe(204);
    expect(await subscriptionOf(d)).toBeNull();
  });

  it("removing a device removes its subscription and nobody else's", async () => {
    const d = await newAccount(a);
    const laptop = await addDevice(a, d);
    await subscribe(d, rx.device());
    await subscribe(laptop, rx.device());
    const res = await a.req("DELETE", `/api/v1/devices/${laptop.deviceId}`, { token: d.token });
    expect(res.status).toBe(204);
    expect(await subscriptionOf(laptop)).toBeNull();
    expect(await subscriptionOf(d)).not.toBeNull();
  });

  it("a key that is not a P-256 point, or an auth secret of the wrong size, is a 400 naming the field", async () => {
    const d = await newAccount(a);
    const good = rx.device().subscription;
    const offCurve = Buffer.alloc(65, 7);
    offCurve[0] = 4;
    for (const [keys, field] of [
      [{ ...good.keys, p256dh: offCurve.toString("base64url") }, "keys.p256dh"],
      [{ ...good.keys, p256dh: good.keys.p256dh.slice(0, 40) }, "keys.p256dh"],
      [{ ...good.keys, auth: randomBytes(15).toString("base64url") }, "keys.auth"],
    ] as const) {
      const res = await a.req("PUT", "/api/v1/push/subscription", {
        token: d.token,
        body: { ...good, keys },
      });
      expect(res.status).toBe(400);
      expect(Object.keys(res.body.fields)).toEqual([field]);
    }
  });
});

describe("when a device is woken", () => {
  it("a device without a socket gets one push for a burst of 50, encrypted to it, holding only the position", async () => {
    const t = await scene();
    // The sender's own other device, asleep and subscribed too: its copy of what it sent wakes nothing.
    const senderLaptop = await addDevice(a, t.sender);
    const laptop = rx.device();
    await subscribe(senderLaptop, laptop);
    for (let i = 0; i < 50; i++) await t.say(`m${i}`);
    expect(laptop.pushes()).toHaveLength(0);
    const pushes = t.phone.pushes();
    expect(pushes).toHaveLength(1);
    const push = pushes[0]!;
    expect(push.headers).toMatchObject({ "content-encoding": "aes128gcm", urgency: "high" });
    expect(Number(push.headers.ttl)).toBeGreaterThan(0);
    expect(push.body).toHaveLength(166); // padded: every wake-up is the same size
    const payload = t.phone.open(push);
    expect(Object.keys(payload).sort()).toEqual(["position", "v"]);
    expect(payload.v).toBe(1);
    // The first message's stream position: the device catches up from there.
    const sync = await a.req("GET", "/api/v1/sync?since=0&limit=10", { token: t.sleeper.token });
    const first = sync.body.entries.find((e: { type: string }) => e.type === "new_message");
    expect(payload.position).toBe(first.position);
    const published = (await a.req("GET", "/api/v1/push/vapid", { token: t.sleeper.token })).body.public_key;
    const claims = await verifyVapid(push, published, rx.origin, a.clock.now());
    expect(claims.sub).toBe("mailto:ops@example.org");
    expect(a.deps.metrics.render()).toMatch(/push_sent_total(\{\})? 1/);
  });

  it("none while a socket is open on another process; after it reconnects and leaves, the next message pushes", async () => {
    const t = await scene();
    await t.say("asleep");
    expect(t.phone.pushes()).toHaveLength(1);
    const onB = await connect(b, t.sleeper.token);
    await socketsAre(t.sleeper, 1);
    await t.say("awake elsewhere");
    expect((await onB.client.next("new_message")).type).toBe("new_message");
    expect(t.phone.pushes()).toHaveLength(1);
    await onB.client.close();
    await socketsAre(t.sleeper, 0);
    // Well within PUSH_MIN_INTERVAL_SECONDS of the first push: the connection re-armed it.
    await t.say("asleep again");
    expect(t.phone.pushes()).toHaveLength(2);
    await t.say("still asleep");
    expect(t.phone.pushes()).toHaveLength(2);
    // And PUSH_MIN_INTERVAL_SECONDS later, without a connection, the next message pushes too.
    a.clock.advance(a.deps.config.PUSH_MIN_INTERVAL_SECONDS);
    await t.say("a minute on");
    expect(t.phone.pushes()).toHaveLength(3);
  });

  it("410 from the push service deletes the subscription", async () => {
    const t = await scene();
    t.phone.answer({ status: 410 });
    await t.say("gone?");
    expect(t.phone.pushes()).toHaveLength(1);
    expect(await subscriptionOf(t.sleeper)).toBeNull();
    expect(a.deps.metrics.render()).toMatch(/push_subscriptions_dropped_total\{reason="gone"\} 1/);
  });

  it("429 is retried after its Retry-After, 500 and a timeout with backoff, until the push service takes it", async () => {
    const t = await scene();
    t.phone.answer(
      { status: 429, headers: { "retry-after": "120" } },
      { status: 500 },
      { status: 201, hang: true },
    );
    await t.say("hello");
    expect(t.phone.pushes()).toHaveLength(1);
    a.clock.advance(119);
    expect(await sweep()).toBe(0);
    a.clock.advance(2);
    expect(await sweep()).toBe(1); // the 500
    expect(t.phone.pushes()).toHaveLength(2);
    const { lease_until, attempts } = (await subscriptionOf(t.sleeper))!;
    expect(attempts).toBe(2);
    a.clock.advance((lease_until.getTime() - a.clock.now().getTime()) / 1000);
    expect(await sweep()).toBe(1); // cut by PUSH_TIMEOUT_MS
    expect(t.phone.pushes()).toHaveLength(3);
    expect((await subscriptionOf(t.sleeper))!.attempts).toBe(3);
    a.clock.advance(3600);
    expect(await sweep()).toBe(1); // 201
    const pushes = t.phone.pushes();
    expect(pushes).toHaveLength(4);
    expect(new Set(pushes.map((p) => t.phone.open(p).position)).size).toBe(1);
    const doc = await subscriptionOf(t.sleeper);
    expect(doc).not.toHaveProperty("lease_until");
    expect(await sweep()).toBe(0);
    expect(a.deps.metrics.render()).toMatch(/push_failed_total\{reason="timeout"\} 1/);
  });

  it(`a push that keeps failing is given up after ${MAX_ATTEMPTS} attempts`, async () => {
    const t = await scene();
    t.phone.answer(...Array.from({ length: MAX_ATTEMPTS }, () => ({ status: 503 })));
    await t.say("hello");
    for (let i = 1; i < MAX_ATTEMPTS; i++) {
      a.clock.advance(3600);
      expect(await sweep()).toBe(1);
    }
    expect(t.phone.pushes()).toHaveLength(MAX_ATTEMPTS);
    a.clock.advance(3600);
    expect(await sweep()).toBe(0);
    expect(await subscriptionOf(t.sleeper)).not.toHaveProperty("lease_until");
    expect(await subscriptionOf(t.sleeper)).toMatchObject({ endpoint: t.phone.subscription.endpoint });
  });

  it("two processes sweeping the same due pushes at the same moment send each once", async () => {
    const devices = await Promise.all(Array.from({ length: 4 }, () => scene()));
    for (const t of devices) t.phone.answer({ status: 500 });
    for (const t of devices) await t.say("first try fails");
    a.clock.advance(3600);
    syncClocks();
    // Both read the same due pushes before either takes one.
    let arrived = 0;
    let release = () => {};
    const bothRead = new Promise<void>((r) => {
      release = r;
    });
    const barrier = async (step: string) => {
      if (step !== "push.take") return;
      if (++arrived === 2) release();
      await bothRead;
    };
    a.deps.checkpoint = barrier;
    b.deps.checkpoint = barrier;
    try {
      const [byA, byB] = await Promise.all([
        sendDuePushes(a.deps, a.clock.now()),
        sendDuePushes(b.deps, b.clock.now()),
      ]);
      await settle(a);
      await settle(b);
      expect(byA + byB).toBe(devices.length);
    } finally {
      a.deps.checkpoint = undefined;
      b.deps.checkpoint = undefined;
    }
    for (const t of devices) expect(t.phone.pushes()).toHaveLength(2);
  });
});
