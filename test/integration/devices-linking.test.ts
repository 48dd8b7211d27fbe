import { ObjectId } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KEY_RESET_WAIT_SECONDS } from "../../src/linking/routes.js";
import { type Device, direct, encrypt, newAccount, send } from "../helpers/e2e.js";
import { type Hush, linkSignature, logIn, newDeviceKey, signUp, startHush } from "../helpers/hush.js";

let h: Hush;
beforeAll(async () => {
  h = await startHush();
});
afterAll(() => h?.close());

let n = 0;
/** An account with an account key, its first device linked; the account secret is kept. */
async function signedAccount() {
  const accountKey = newDeviceKey();
  const a = await signUp(h, { deviceId: `phone-${n++}`, accountKey });
  const device: Device = {
    userId: a.id,
    deviceId: a.deviceId,
    email: a.email,
    token: a.token,
    secretKey: a.device.secretKey,
  };
  return { ...device, accountKey, key: a.device };
}
type Signed = Awaited<ReturnType<typeof signedAccount>>;

/** Another device of the account by emailed code alone: pending. */
async function pendingDevice(of: Signed) {
  const key = newDeviceKey();
  const deviceId = `laptop-${n++}`;
  const { res } = await logIn(h, of.email, deviceId, key);
  expect(res.status).toBe(200);
  return {
    device: { ...of, deviceId, token: res.body.session_token, secretKey: key.secretKey } as Device,
    key,
    res,
  };
}

/** A fresh session for a device (its key unchanged) once the clock has outrun its token. */
async function again(d: Device, key: ReturnType<typeof newDeviceKey>) {
  const { res } = await logIn(h, d.email, d.deviceId, key);
  expect(res.status).toBe(200);
  d.token = res.body.session_token;
}

const sync = async (d: Device) => {
  const res = await h.req("GET", "/api/v1/sync?since=0&limit=500", { token: d.token });
  expect(res.status).toBe(200);
  return res.body.entries as { type: string; data: any }[];
};
const ids = (devices: { device_id: string }[]) => devices.map((d) => d.device_id);

describe("sign-up with an account key", () => {
  it("refuses an account key another account already holds (409 naming public_key)", async () => {
    const accountKey = newDeviceKey();
    await signUp(h, { accountKey });
    const again = await signUp(h, { accountKey }).catch((e: Error) => e.message);
    expect(again).toMatch(/complete 409 .*public_key.*CONFLICT|complete 409 .*CONFLICT.*public_key/);
  });

  it("names device_info.account_signature when it is missing or does not verify", async () => {
    const accountKey = newDeviceKey();
    const device = newDeviceKey();
    const email = `nosig.${n++}@example.com`;
    const start = await h.req("POST", "/api/v1/auth/signup", { body: { email } });
    const verify = await h.req("POST", "/api/v1/auth/verify-otp", {
      body: { session_id: start.body.session_id, otp: h.smtp.code(email) },
    });
    const complete = (account_signature?: string) =>
      h.req("POST", `/api/v1/auth/complete-signup?temp_token=${verify.body.temp_token}`, {
        body: {
          email,
          username: `nosig_${n++}`,
          full_name: "No Sig",
          public_key: accountKey.b64,
          device_info: {
            device_id: "d1",
            device_name: "D",
            public_key: device.b64,
            ...(account_signature ? { account_signature } : {}),
          },
        },
      });
    const none = await complete();
    expect(none.status).toBe(400);
    expect(none.body.fields).toHaveProperty(["device_info.account_signature"]);
    // Signed by another key, or for another device id: both wrong.
    for (const sig of [
      linkSignature(newDeviceKey().secretKey, "d1", device.b64),
      linkSignature(accountKey.secretKey, "d2", device.b64),
    ]) {
      const wrong = await complete(sig);
      expect(wrong.status).toBe(400);
      expect(wrong.body.code).toBe("INVALID_SIGNATURE");
      expect(wrong.body.fields).toHaveProperty(["device_info.account_signature"]);
    }
    const ok = await complete(linkSignature(accountKey.secretKey, "d1", device.b64));
    expect(ok.status).toBe(201);
    expect(ok.body.public_key).toBe(accountKey.b64);
    expect(ok.body.devices).toEqual([
      expect.objectContaining({ device_id: "d1", status: "linked", account_signature: expect.any(String) }),
    ]);
  });
});

describe("a device logged in by emailed code alone is pending", () => {
  it("is in no list, gets no key and no message entry, cannot send; approval links it and tells the members", async () => {
    const alice = await newAccount(h); // a legacy account: no account key
    const bob = await signedAccount();
    const conversation = await direct(h, alice, bob);
    const { device: laptop, key, res } = await pendingDevice(bob);
    expect(res.body.user.devices.find((d: any) => d.device_id === laptop.deviceId)).toMatchObject({
      status: "pending",
      current: true,
      account_signature: null,
    });

    // In no device list others read, nor in claims; Bob's own list shows it, pending.
    const userList = await h.req("GET", `/api/v1/users/${bob.userId}/devices`, { token: alice.token });
    expect(ids(userList.body.devices)).toEqual([bob.deviceId]);
    expect(userList.body.devices[0]).toMatchObject({
      account_key: bob.accountKey.b64,
      account_signature: expect.any(String),
    });
    const convList = await h.req("GET", `/api/v1/conversations/${conversation}/devices`, {
      token: alice.token,
    });
    expect(ids(convList.body.devices).sort()).toEqual([alice.deviceId, bob.deviceId].sort());
    const claims = await h.req("POST", "/api/v1/keys/claim", {
      token: alice.token,
      body: { user_id: bob.userId },
    });
    expect(ids(claims.body.devices)).toEqual([bob.deviceId]);
    const named = await h.req("POST", "/api/v1/keys/claim", {
      token: alice.token,
      body: { user_id: bob.userId, device_id: laptop.deviceId },
    });
    expect(named.status).toBe(404);
    const own = await h.req("GET", "/api/v1/devices", { token: bob.token });
    expect(own.body.account_key).toBe(bob.accountKey.b64);
    expect(own.body.devices.map((d: any) => [d.device_id, d.status])).toEqual([
      [bob.deviceId, "linked"],
      [laptop.deviceId, "pending"],
    ]);

    // A key wrapped for it is extra; leaving it out is not missing.
    const withPending = await send(h, alice, conversation, "for the ghost too", {
      recipients: [
        ...convList.body.devices.filter((d: any) => d.device_id !== alice.deviceId),
        { user_id: bob.userId, device_id: laptop.deviceId, identity_key: key.b64 },
      ],
    });
    expect(withPending.res.status).toBe(409);
    expect(withPending.res.body.code).toBe("DEVICE_MISMATCH");
    expect(withPending.res.body.extra_devices).toEqual([{ user_id: bob.userId, device_id: laptop.deviceId }]);
    expect(withPending.res.body.missing_devices).toEqual([]);
    const sent = await send(h, alice, conversation, "before approval");
    expect(sent.res.status).toBe(201);
    expect((await sync(laptop)).filter((e) => e.type === "new_message")).toEqual([]);
    expect((await sync(bob)).filter((e) => e.type === "new_message")).toHaveLength(1);

    // It cannot send either.
    const fromPending = await send(h, laptop, conversation, "hi", { recipients: [] });
    expect(fromPending.res.status).toBe(403);

    // Approval: a bad signature, a pending approver and another account's device are refused.
    const good = linkSignature(bob.accountKey.secretKey, laptop.deviceId, key.b64);
    const approve = (by: Device, signature: string, deviceId = laptop.deviceId) =>
      h.req("POST", `/api/v1/devices/${deviceId}/approve`, {
        token: by.token,
        body: { account_signature: signature },
      });
    const bad = await approve(bob, linkSignature(newDeviceKey().secretKey, laptop.deviceId, key.b64));
    expect(bad.status).toBe(400);
    expect(bad.body.fields).toHaveProperty("account_signature");
    const { device: other } = await pendingDevice(bob);
    expect((await approve(other, good)).status).toBe(403);
    const carol = await signedAccount();
    expect((await approve(carol, good)).status).toBe(404);
    expect((await approve(bob, good, bob.deviceId)).status).toBe(404); // linked already

    const ok = await approve(bob, good);
    expect(ok.status).toBe(200);
    expect(ok.body.device).toMatchObject({
      device_id: laptop.deviceId,
      status: "linked",
      account_signature: good,
    });
    expect((await approve(bob, good)).status).toBe(404); // not pending any more

    // Alice (a contact of nobody, but in a conversation with Bob) learns of it with the signed device.
    const told = (await sync(alice)).filter((e) => e.type === "devices_changed");
    expect(told).toEqual([
      expect.objectContaining({
        data: {
          user_id: bob.userId,
          reason: "device_linked",
          account_key: bob.accountKey.b64,
          device: {
            device_id: laptop.deviceId,
            key_type: "ed25519",
            identity_key: key.b64,
            account_signature: good,
          },
        },
      }),
    ]);
    expect((await sync(laptop)).some((e) => e.type === "devices_changed")).toBe(true);
    const after = await h.req("GET", `/api/v1/conversations/${conversation}/devices`, { token: alice.token });
    expect(ids(after.body.devices)).toContain(laptop.deviceId);
    expect((await send(h, alice, conversation, "after approval")).res.status).toBe(201);
    expect((await sync(laptop)).filter((e) => e.type === "new_message")).toHaveLength(1);
  });

  it("a pending device may remove itself but no other device; a linked one may remove it", async () => {
    const bob = await signedAccount();
    const { device: first } = await pendingDevice(bob);
    const { device: second } = await pendingDevice(bob);
    const remove = (by: Device, deviceId: string) =>
      h.req("DELETE", `/api/v1/devices/${deviceId}`, { token: by.token });
    expect((await remove(first, bob.deviceId)).status).toBe(403);
    expect((await remove(first, second.deviceId)).status).toBe(403);
    expect((await remove(first, first.deviceId)).status).toBe(204);
    expect((await remove(bob, second.deviceId)).status).toBe(204);
    const own = await h.req("GET", "/api/v1/devices", { token: bob.token });
    expect(ids(own.body.devices)).toEqual([bob.deviceId]);
  });

  it("a legacy account's new device is usable at once, and approve finds nothing pending", async () => {
    const legacy = await newAccount(h);
    const { res } = await logIn(h, legacy.email, `tablet-${n++}`);
    expect(res.body.user.public_key).toBeNull();
    expect(res.body.user.devices.map((d: any) => d.status)).toEqual(["unsigned", "unsigned"]);
    const approve = await h.req("POST", `/api/v1/devices/${res.body.user.devices[1].device_id}/approve`, {
      token: legacy.token,
      body: { account_signature: linkSignature(newDeviceKey().secretKey, "x", "y") },
    });
    expect(approve.status).toBe(404);
  });
});

describe("a device row the server did not sign (a malicious server or a database write)", () => {
  it("is listed nowhere others read and refused in recipient_keys; with a wrong signature not even to its owner", async () => {
    const alice = await newAccount(h);
    const bob = await signedAccount();
    const conversation = await direct(h, alice, bob);
    const real = await h
      .raw("devices")
      .findOne({ user_id: new ObjectId(bob.userId), device_id: bob.deviceId });
    const ghostKey = newDeviceKey();
    const wrongKey = newDeviceKey();
    const { _id, ...row } = real!;
    await h.raw("devices").insertMany([
      {
        ...row,
        _id: new ObjectId(),
        device_id: "ghost",
        identity_key: ghostKey.b64,
        account_signature: null,
      },
      {
        ...row,
        _id: new ObjectId(),
        device_id: "forged",
        identity_key: wrongKey.b64,
        // Signed by a key that is not Bob's account key; and the real signature copied onto another device.
        account_signature: linkSignature(newDeviceKey().secretKey, "forged", wrongKey.b64),
      },
      { ...row, _id: new ObjectId(), device_id: "copied", identity_key: newDeviceKey().b64 },
    ]);
    const lists = [
      (await h.req("GET", `/api/v1/users/${bob.userId}/devices`, { token: alice.token })).body.devices,
      (await h.req("GET", `/api/v1/conversations/${conversation}/devices`, { token: alice.token })).body
        .devices,
      (await h.req("POST", "/api/v1/keys/claim", { token: alice.token, body: { user_id: bob.userId } })).body
        .devices,
    ];
    for (const list of lists) expect(ids(list)).not.toEqual(expect.arrayContaining(["ghost"]));
    for (const list of lists)
      expect(ids(list).filter((d) => ["ghost", "forged", "copied"].includes(d))).toEqual([]);
    // The owner sees the unsigned one as pending (to refuse or remove it), the forged ones not at all.
    const own = await h.req("GET", "/api/v1/devices", { token: bob.token });
    expect(own.body.devices.map((d: any) => [d.device_id, d.status])).toEqual([
      [bob.deviceId, "linked"],
      ["ghost", "pending"],
    ]);
    for (const ghost of [
      { device_id: "ghost", identity_key: ghostKey.b64 },
      { device_id: "forged", identity_key: wrongKey.b64 },
    ]) {
      const { encrypted_content, recipient_keys } = encrypt("ghost", [
        { user_id: bob.userId, device_id: bob.deviceId, identity_key: real!.identity_key },
        { user_id: bob.userId, ...ghost },
      ]);
      const res = await h.req("POST", "/api/v1/messages", {
        token: alice.token,
        body: { conversation_id: conversation, encrypted_content, recipient_keys },
      });
      expect(res.status).toBe(409);
      expect(res.body.extra_devices).toEqual([{ user_id: bob.userId, device_id: ghost.device_id }]);
    }
  });
});

describe("account-key reset", () => {
  it("waits out its period, unlinks every device, sets the key and tells contacts and co-members", async () => {
    const alice = await signedAccount();
    const bob = await signedAccount();
    await direct(h, alice, bob);
    // Bob lost his phone: a new device logs in by emailed code and asks for a reset with a new key.
    const { device: fresh, key } = await pendingDevice(bob);
    const newKey = newDeviceKey();
    const signature = linkSignature(newKey.secretKey, fresh.deviceId, key.b64);
    const wrong = await h.req("POST", "/api/v1/account-key/reset", {
      token: fresh.token,
      body: { public_key: newKey.b64, account_signature: linkSignature(newKey.secretKey, "other", key.b64) },
    });
    expect(wrong.status).toBe(400);
    const asked = await h.req("POST", "/api/v1/account-key/reset", {
      token: fresh.token,
      body: { public_key: newKey.b64, account_signature: signature },
    });
    expect(asked.status).toBe(202);
    expect(h.smtp.to(bob.email).at(-1)!.text).toMatch(/asked to replace your account key/);
    const complete = () => h.req("POST", "/api/v1/account-key/reset/complete", { token: fresh.token });
    expect((await complete()).status).toBe(409);
    h.clock.advance(KEY_RESET_WAIT_SECONDS - 60);
    await again(fresh, key);
    await again(bob, bob.key);
    await again(alice, alice.key);
    expect((await complete()).status).toBe(409);
    // Only the device that asked applies it.
    expect((await h.req("POST", "/api/v1/account-key/reset/complete", { token: bob.token })).status).toBe(
      404,
    );
    h.clock.advance(60);
    const done = await complete();
    expect(done.status).toBe(200);
    expect(done.body.device).toMatchObject({
      device_id: fresh.deviceId,
      status: "linked",
      account_signature: signature,
    });

    const me = await h.req("GET", "/api/v1/users/me", { token: fresh.token });
    expect(me.body.public_key).toBe(newKey.b64);
    expect(me.body.devices.map((d: any) => [d.device_id, d.status])).toEqual([
      [bob.deviceId, "pending"],
      [fresh.deviceId, "linked"],
    ]);
    const list = await h.req("GET", `/api/v1/users/${bob.userId}/devices`, { token: alice.token });
    expect(list.body.devices).toEqual([
      expect.objectContaining({ device_id: fresh.deviceId, account_key: newKey.b64 }),
    ]);
    const told = (await sync(alice)).filter((e) => e.type === "devices_changed");
    expect(told.map((e) => [e.data.reason, e.data.account_key])).toEqual([
      ["account_key_changed", newKey.b64],
    ]);
    expect((await sync(bob)).some((e) => e.type === "devices_changed")).toBe(true); // the old phone learns it
  });

  it("a linked device cancels it, and a pending device that did not ask cannot", async () => {
    const bob = await signedAccount();
    const { device: fresh, key } = await pendingDevice(bob);
    const { device: bystander } = await pendingDevice(bob);
    const newKey = newDeviceKey();
    await h.req("POST", "/api/v1/account-key/reset", {
      token: fresh.token,
      body: {
        public_key: newKey.b64,
        account_signature: linkSignature(newKey.secretKey, fresh.deviceId, key.b64),
      },
    });
    expect((await h.req("DELETE", "/api/v1/account-key/reset", { token: bystander.token })).status).toBe(403);
    expect((await h.req("DELETE", "/api/v1/account-key/reset", { token: bob.token })).status).toBe(204);
    h.clock.advance(KEY_RESET_WAIT_SECONDS);
    await again(fresh, key);
    await again(bob, bob.key);
    expect((await h.req("POST", "/api/v1/account-key/reset/complete", { token: fresh.token })).status).toBe(
      404,
    );
    const me = await h.req("GET", "/api/v1/users/me", { token: bob.token });
    expect(me.body.public_key).toBe(bob.accountKey.b64);
  });
});
