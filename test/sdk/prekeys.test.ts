import { MemoryStore, PREKEY_LOW, PREKEY_TARGET } from "@hush/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Hush, startHush } from "../helpers/hush.js";
import { account } from "./helpers.js";

let h: Hush;
beforeAll(async () => {
  h = await startHush();
});
afterAll(async () => {
  await h?.close();
});

describe("the SDK's prekeys", { timeout: 120_000 }, () => {
  it("publishes a signed prekey, one-time EC and KEM prekeys, and tops them up when the server's count runs low", async () => {
    const store = new MemoryStore();
    const alice = await account(h, { store, tag: "alice" });
    const bob = await account(h, { tag: "bob" });
    const counts = async () => (await alice.api.GET("/api/v1/keys/count")).data!;
    expect(await counts()).toEqual({ one_time_prekeys: PREKEY_TARGET, kem_prekeys: PREKEY_TARGET });
    // Nothing to do while the stock is above the threshold.
    expect(await alice.replenishPrekeys()).toBe(0);

    const claim = async () => {
      const r = await bob.api.POST("/api/v1/keys/claim", {
        body: { user_id: alice.userId, device_id: alice.deviceId },
      });
      expect(r.response.status).toBe(200);
      return r.data!.devices[0]!;
    };
    const first = await claim();
    expect(first.signed_prekey).not.toBeNull();
    expect(first.one_time_prekey).not.toBeNull();
    // Each one published has its secret on the device (and only there).
    const held = JSON.parse(JSON.parse(store.dump()).prekeys);
    expect(held.oneTime[first.one_time_prekey!.key_id]).toBeTypeOf("string");
    expect(held.signed.keyId).toBe(first.signed_prekey!.key_id);
    // A one-time ML-KEM-1024 prekey (0x08 || 1568 bytes), its 64-byte keygen seed kept on the device.
    expect(first.kem_prekey).toMatchObject({ last_resort: false });
    expect(Buffer.from(first.kem_prekey!.public_key, "base64")).toHaveLength(1569);
    expect(Buffer.from(held.kem[first.kem_prekey!.key_id], "base64")).toHaveLength(64);
    expect(held.kemLastResort.seed).toBeTypeOf("string");

    // A day of claims (the most a device hands out), then one more the next day: under the threshold.
    const claims = PREKEY_TARGET - PREKEY_LOW; // 100: the device's daily allowance, the first included
    // Ten at a time: a hundred at once on a loaded machine makes the store answer 503.
    for (let done = 1; done < claims; done += 10)
      await Promise.all(Array.from({ length: Math.min(10, claims - done) }, claim));
    // Two days on, so that the day's claims have slid out of the limiter's window whatever the time
    // of day (its estimate weighs the previous fixed day by how much of it still overlaps: one day
    // on, just after midnight UTC, that is nearly all of it). Every access token has expired too:
    // the SDK refreshes on its own.
    h.clock.advance(2 * 86_400 + 1);
    await claim();
    expect(await counts()).toEqual({ one_time_prekeys: PREKEY_LOW - 1, kem_prekeys: PREKEY_LOW - 1 });
    // Both kinds topped up.
    expect(await alice.replenishPrekeys()).toBe(2 * (PREKEY_TARGET - PREKEY_LOW + 1));
    expect(await counts()).toEqual({ one_time_prekeys: PREKEY_TARGET, kem_prekeys: PREKEY_TARGET });
  });
});
