import { randomBytes } from "node:crypto";
import { ObjectId } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LEASE_MS } from "../../src/delivery/wake.js";
import { devicesIn, direct, newAccount, wire } from "../helpers/e2e.js";
import { type Hush, startHush } from "../helpers/hush.js";
import { type PushReceiver, startPushReceiver } from "../helpers/push-receiver.js";
import { spawnServer } from "../helpers/spawned.js";

/*
 * A wake-up is recorded before it is sent. A server process killed (SIGKILL) right after recording
 * one (TEST_CRASH_AT=push.recorded) has sent nothing; another started on the same data after the
 * dead one's lease (TEST_CLOCK_OFFSET_MS) sends it, once.
 */

let h: Hush;
let rx: PushReceiver;
const secret = randomBytes(32).toString("hex");
beforeAll(async () => {
  rx = await startPushReceiver();
  h = await startHush({ JWT_SECRET: secret, PUSH_ALLOW_PRIVATE: "true" });
});
afterAll(async () => {
  await h?.close();
  await rx?.close();
});

const env = (extra: Record<string, string>) => ({
  JWT_SECRET: secret,
  PUSH_ALLOW_PRIVATE: "true",
  EXPIRY_INTERVAL_MS: "100",
  ...extra,
});

describe("a server killed between recording a wake-up and sending it", () => {
  it("leaves it recorded, and a restarted server sends it once", async () => {
    const sender = await newAccount(h);
    const sleeper = await newAccount(h);
    const conversation = await direct(h, sender, sleeper);
    const phone = rx.device();
    const put = await h.req("PUT", "/api/v1/push/subscription", {
      token: sleeper.token,
      body: phone.subscription,
    });
    expect(put.status).toBe(204);
    const db = { dbName: h.deps.store.db.databaseName };

    const doomed = await spawnServer(env({ TEST_CRASH_AT: "push.recorded" }), db);
    const sealed = wire("wake up", await devicesIn(h, sender, conversation));
    // The send itself is acknowledged or cut by the kill: the wake-up is recorded either way.
    await fetch(`${doomed.url}/api/v1/messages`, {
      method: "POST",
      headers: { authorization: `Bearer ${sender.token}`, "content-type": "application/json" },
      body: JSON.stringify({ conversation_id: conversation, ...sealed }),
    }).catch(() => undefined);
    expect(String(await doomed.exited)).toContain("SIGKILL");
    const subs = h.raw("push_subscriptions");
    const key = { user_id: new ObjectId(sleeper.userId), device_id: sleeper.deviceId };
    const recorded = await subs.findOne(key);
    expect(recorded).toMatchObject({ attempts: 0 });
    expect(recorded!.lease_until).toBeInstanceOf(Date);
    expect(phone.pushes()).toHaveLength(0);

    const restarted = await spawnServer(env({ TEST_CLOCK_OFFSET_MS: String(LEASE_MS + 5_000) }), db);
    try {
      await rx.waitFor(1);
      for (let i = 0; i < 100 && (await subs.findOne(key))?.lease_until; i++)
        await new Promise((r) => setTimeout(r, 50));
      expect(await subs.findOne(key)).not.toHaveProperty("lease_until");
    } finally {
      await restarted.stop();
    }
    const pushes = phone.pushes();
    expect(pushes).toHaveLength(1);
    expect(phone.open(pushes[0]!)).toEqual({ v: 1, position: recorded!.position });
    const sync = await h.req("GET", "/api/v1/sync?since=0&limit=10", { token: sleeper.token });
    const message = sync.body.entries.find((e: { type: string }) => e.type === "new_message");
    expect(recorded!.position).toBe(message.position);
  });
});
