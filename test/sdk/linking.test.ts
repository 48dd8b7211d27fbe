import { HushClient, MemoryStore } from "@hush/sdk";
import { ObjectId } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KEY_RESET_WAIT_SECONDS } from "../../src/linking/routes.js";
import { type Hush, linkSignature, newDeviceKey, startHush } from "../helpers/hush.js";
import { account, checkedFetch, device, legacyAccount, options, recorder } from "./helpers.js";

let h: Hush;
const clients: HushClient[] = [];
const track = <T extends HushClient>(c: T) => {
  clients.push(c);
  return c;
};
beforeAll(async () => {
  h = await startHush();
});
afterAll(async () => {
  for (const c of clients) c.disconnect();
  await h?.close();
});

/**
 * A fetch that plays a malicious server: the conversation's device list it answers has `extra`
 * added (after the real answer was checked against its schema); every message sent is recorded.
 */
function lyingFetch(extra: () => Record<string, unknown>[]) {
  const checked = checkedFetch(h);
  const sent: { recipient_keys: { device_id: string }[] }[] = [];
  const fetch = async (request: Request): Promise<Response> => {
    const path = new URL(request.url).pathname;
    if (request.method === "POST" && path === "/api/v1/messages") sent.push(await request.clone().json());
    const res = await checked(request);
    if (!/^\/api\/v1\/conversations\/[0-9a-f]{24}\/devices$/.test(path) || res.status !== 200) return res;
    const body = await res.json();
    body.devices.push(...extra());
    return new Response(JSON.stringify(body), { status: 200, headers: res.headers });
  };
  return { fetch, sent };
}

describe("signed devices in the SDK", { timeout: 120_000 }, () => {
  it("refuses to wrap for a device the server slips into a list without a valid signature, and reports it once", async () => {
    const bob = track(await account(h, { tag: "bob" }));
    const accountKey = (await h.raw("account_keys").findOne({ _id: new ObjectId(bob.userId) }))!.public_key;
    // The ghost: a row written straight into Bob's devices, a copy of his phone's with another key.
    const real = await h.raw("devices").findOne({ user_id: new ObjectId(bob.userId) });
    const ghostKey = newDeviceKey();
    const { _id, ...row } = real!;
    await h
      .raw("devices")
      .insertOne({ ...row, _id: new ObjectId(), device_id: "ghost", identity_key: ghostKey.b64 });
    const ghost = (signature: string | null, key: string | null = accountKey) => ({
      user_id: bob.userId,
      device_id: "ghost",
      identity_key: ghostKey.b64,
      key_type: "ed25519",
      registration_id: null,
      account_signature: signature,
      account_key: key,
    });
    // A wrong signature (another key's), then none with the account key stripped (a downgrade).
    const forged = linkSignature(newDeviceKey().secretKey, "ghost", ghostKey.b64);
    let lie = [ghost(forged)];
    const { fetch, sent } = lyingFetch(() => lie);
    const alice = track(
      await HushClient.signUp({
        ...options(h),
        fetch,
        email: `alice.ghost.${Date.now()}@example.com`,
        username: `alice_g_${Date.now().toString(36)}`,
        fullName: "Alice",
        deviceId: "phone",
        code: (email) => h.smtp.code(email),
      }),
    );
    const refused = recorder(alice, "device_refused");
    const conv = await alice.startConversation(bob.userId);
    await alice.send(conv.id, "not for the ghost");
    await alice.send(conv.id, "still not");
    expect(refused.seen).toEqual([
      { userId: bob.userId, deviceId: "ghost", identityKey: ghostKey.b64, reason: "bad_signature" },
    ]);
    // The server itself lists it nowhere either: the sends went through without it.
    expect(sent.map((m) => m.recipient_keys.map((k) => k.device_id).sort())).toEqual([
      ["phone", "phone"],
      ["phone", "phone"],
    ]);
    lie = [ghost(null, null)];
    alice.directory.forget();
    await alice.send(conv.id, "and not now");
    // Refused again (no key for it), but reported once: it is the same device and key.
    expect(refused.seen).toHaveLength(1);
    expect(sent.at(-1)!.recipient_keys.map((k) => k.device_id)).not.toContain("ghost");
  });

  it("a device logged in by code waits pending; a wrong code is not approved; the right one links it without a safety-number change", async () => {
    const alice = track(await account(h, { tag: "alice" }));
    const bob = track(await account(h, { tag: "bob" }));
    const conv = await alice.startConversation(bob.userId);
    await alice.send(conv.id, "hello bob");
    const before = alice.safetyNumber(bob.userId);

    const laptop = track(await device(h, bob, "laptop", new MemoryStore(), { approve: false }));
    expect(laptop.pending).toBe(true);
    expect(laptop.fingerprint()).toMatch(/^\d{4} \d{4} \d{4}$/);
    const laptopGot = recorder(laptop, "message");
    const laptopLinked = recorder(laptop, "devices_changed");
    const aliceTold = recorder(alice, "devices_changed");
    await Promise.all([alice.connect(), laptop.connect()]);
    await alice.send(conv.id, "while the laptop waits");
    expect((await alice.directory.devicesOf(conv.id, true)).map((d) => d.device_id).sort()).toEqual([
      "phone",
      "phone",
    ]);

    // Bob types a code that is not the laptop's (what he would see if the server swapped its key).
    const wrong = laptop.fingerprint().replace(/\d$/, (d) => String((Number(d) + 1) % 10));
    await expect(bob.approveDevice("laptop", wrong)).rejects.toThrow(/does not match/);
    expect((await bob.pendingDevices()).map((d) => d.device_id)).toEqual(["laptop"]);
    // A device that does not hold the account key cannot approve.
    await expect(laptop.approveDevice("laptop", laptop.fingerprint())).rejects.toThrow(/account key/);

    await bob.approveDevice("laptop", laptop.fingerprint());
    await aliceTold.until((s) => s.some((e) => e.deviceId === "laptop" && e.reason === "device_linked"));
    await laptopLinked.until((s) => s.some((e) => e.thisDevice));
    expect(laptop.pending).toBe(false);
    const after = await alice.send(conv.id, "now the laptop too");
    await laptopGot.until((s) => s.some((m) => m.id === after.id));
    expect(laptopGot.seen.map((m) => m.text)).toEqual(["now the laptop too"]);
    expect(laptopGot.seen[0]!.verified).toBe(true);
    // Linking a device does not change the safety number: it is the account keys'.
    expect(alice.safetyNumber(bob.userId)).toBe(before);
  });

  it("an account-key reset after the waiting period shows as a safety-number change to a contact", async () => {
    const alice = track(await account(h, { tag: "alice" }));
    const bob = track(await account(h, { tag: "bob" }));
    const conv = await alice.startConversation(bob.userId);
    await alice.send(conv.id, "hello");
    const before = alice.safetyNumber(bob.userId);
    const changes = recorder(alice, "identity_changed");
    await alice.connect();

    // Bob lost his phone: a new device, pending, asks for a reset.
    const fresh = track(await device(h, bob, "new-phone", new MemoryStore(), { approve: false }));
    const asked = await fresh.requestAccountKeyReset();
    await expect(fresh.completeAccountKeyReset()).rejects.toMatchObject({ code: "INVALID_STATE" });
    h.clock.advance(KEY_RESET_WAIT_SECONDS);
    await fresh.completeAccountKeyReset();
    expect(fresh.pending).toBe(false);

    await changes.until((s) => s.length === 1);
    expect(changes.seen[0]).toMatchObject({
      userId: bob.userId,
      kind: "account",
      identityKey: asked.public_key,
      source: "stream",
    });
    expect(changes.seen[0]!.safetyNumber).not.toBe(before);
    expect(alice.safetyNumber(bob.userId)).toBe(changes.seen[0]!.safetyNumber);
    // Alice now encrypts to the new phone only: the old one is unlinked.
    const got = recorder(fresh, "message");
    await fresh.connect();
    const next = await alice.send(conv.id, "to the new key");
    await got.until((s) => s.some((m) => m.id === next.id));
    expect((await alice.directory.devicesOf(conv.id)).map((d) => d.device_id).sort()).toEqual([
      "new-phone",
      "phone",
    ]);
  });

  it("a legacy account without an account key still works end to end, marked unsigned", async () => {
    const alice = track(await account(h, { tag: "alice" }));
    const bob = track(await legacyAccount(h));
    expect(bob.pending).toBe(false);
    const got = recorder(bob, "message");
    await bob.connect();
    const conv = await alice.startConversation(bob.userId);
    const m = await alice.send(conv.id, "to a legacy account");
    await got.until((s) => s.some((x) => x.id === m.id));
    expect(got.seen[0]).toMatchObject({ text: "to a legacy account", verified: true });
    expect(alice.isUnsigned(bob.userId)).toBe(true);
    expect(alice.isUnsigned(alice.userId)).toBe(false);
  });
});
