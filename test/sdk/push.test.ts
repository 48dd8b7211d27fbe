import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { settleAppends } from "../../src/delivery/append.js";
import { settlePushes } from "../../src/delivery/wake.js";
import { type Hush, startHush } from "../helpers/hush.js";
import { type PushReceiver, startPushReceiver } from "../helpers/push-receiver.js";
import { account } from "./helpers.js";

let h: Hush;
let rx: PushReceiver;
beforeAll(async () => {
  rx = await startPushReceiver();
  h = await startHush({ PUSH_ALLOW_PRIVATE: "true" });
});
afterAll(async () => {
  await h?.close();
  await rx?.close();
});

describe("the SDK's push registration", () => {
  it("registerPush gets a sleeping device woken; unregisterPush stops it", async () => {
    const alice = await account(h, { tag: "alice" });
    const bob = await account(h, { tag: "bob" });
    const phone = rx.device();
    await bob.registerPush(phone.subscription);
    const conv = await alice.startConversation(bob.userId);
    await alice.send(conv.id, "wake up, bob");
    await settleAppends(h.deps);
    await settlePushes(h.deps);
    expect(phone.pushes()).toHaveLength(1);
    expect(Object.keys(phone.open(phone.pushes()[0]!)).sort()).toEqual(["position", "v"]);

    await bob.unregisterPush();
    h.clock.advance(h.deps.config.PUSH_MIN_INTERVAL_SECONDS);
    await alice.send(conv.id, "still there?");
    await settleAppends(h.deps);
    await settlePushes(h.deps);
    expect(phone.pushes()).toHaveLength(1);
    alice.disconnect();
    bob.disconnect();
  });
});
