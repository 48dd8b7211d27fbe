import { ObjectId } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { devicesChanged, identityChanged, prekeysLow } from "../../src/delivery/account-notices.js";
import type { Change } from "../../src/delivery/change.js";
import { readAfter } from "../../src/delivery/repo.js";
import { type Account, type Hush, signUp, startHush } from "../helpers/hush.js";

let h: Hush;
beforeAll(async () => {
  h = await startHush();
});
afterAll(() => h?.close());

const oid = (a: Account) => new ObjectId(a.id);
const key = (t: { user_id: ObjectId; device_id: string }) => `${t.user_id.toHexString()}:${t.device_id}`;

/** The changes of one type recorded since `from` (deps.onChange sees every change the door takes). */
const recorded = (from: number, type: Change["type"]) => h.changes.slice(from).filter((c) => c.type === type);

/** The entries of one type in each account's device stream, by `<user>:<device>`. */
async function streamsOf(type: string, ...accounts: Account[]) {
  const found = new Map<string, unknown[]>();
  for (const a of accounts) {
    const { entries } = await readAfter(h.deps, oid(a), a.deviceId, 0, 100);
    found.set(
      `${a.id}:${a.deviceId}`,
      entries.filter((e) => e.type === type).map((e) => e.data),
    );
  }
  return found;
}

/**
 * Every entry in a stream came through the door: the devices holding an entry of this type are
 * exactly the targets of the recorded changes of that type, each with that change's data.
 */
async function expectThroughTheDoor(from: number, type: Change["type"], accounts: Account[]) {
  const changes = recorded(from, type);
  expect(changes.length).toBeGreaterThan(0);
  const owed = new Map<string, unknown[]>();
  for (const c of changes) {
    for (const t of c.targets) owed.set(key(t), [...(owed.get(key(t)) ?? []), (c as { data: unknown }).data]);
  }
  const held = await streamsOf(type, ...accounts);
  for (const [device, entries] of held) expect(entries, device).toEqual(owed.get(device) ?? []);
  for (const device of owed.keys()) expect(held.has(device), `${device} is one of the accounts`).toBe(true);
}

describe("delivery has one door", () => {
  it("a contact request and its acceptance are recorded changes, one per side, with the devices that get them", async () => {
    const [a, b, c] = await Promise.all([signUp(h), signUp(h), signUp(h)]);
    const from = h.changes.length;
    const ask = await h.req("POST", "/api/v1/contacts", { token: a.token, body: { user_id: b.id } });
    expect(ask.status).toBe(201);
    expect((await h.req("POST", `/api/v1/contacts/${a.id}/accept`, { token: b.token })).status).toBe(200);
    await expectThroughTheDoor(from, "contacts_updated", [a, b, c]);
    const statuses = recorded(from, "contacts_updated").map(
      (ch) => (ch as { data: { status: string } }).data.status,
    );
    expect(statuses.sort()).toEqual(["accepted", "accepted", "incoming", "requested"]);
  });

  it("an identity key, a device list and a prekey stock are changes through the same door", async () => {
    const [a, b, stranger] = await Promise.all([signUp(h), signUp(h), signUp(h)]);
    const device = { device_id: a.deviceId, identity_key: a.device.b64, key_type: "ed25519" as const };

    let from = h.changes.length;
    await identityChanged(h.deps, oid(a), device, [oid(b)]);
    await expectThroughTheDoor(from, "identity_changed", [a, b, stranger]);
    // Not the device whose key changed: only whoever encrypts to it.
    expect(recorded(from, "identity_changed")[0]!.targets.map(key)).toEqual([`${b.id}:${b.deviceId}`]);

    from = h.changes.length;
    const linked = {
      user_id: a.id,
      reason: "device_linked" as const,
      account_key: a.device.b64,
      device: { ...device, account_signature: a.device.b64 },
    };
    await devicesChanged(h.deps, oid(a), linked, [oid(b)]);
    await expectThroughTheDoor(from, "devices_changed", [a, b, stranger]);

    from = h.changes.length;
    await prekeysLow(h.deps, oid(b), b.deviceId, { one_time_prekeys: 2, kem_prekeys: 0, reason: "low" });
    await expectThroughTheDoor(from, "prekeys_low", [a, b, stranger]);
    expect(recorded(from, "prekeys_low")[0]!.targets.map(key)).toEqual([`${b.id}:${b.deviceId}`]);
  });
});
