import { randomBytes } from "node:crypto";
import { ed25519, x25519 } from "@noble/curves/ed25519.js";
import { concatBytes } from "@noble/curves/utils.js";
import { ObjectId } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { z } from "zod";
import { listUserDevices } from "../../src/devices/routes.js";
import * as r from "../../src/keys/routes.js";
import { type Hush, logIn, signUp, startHush } from "../helpers/hush.js";
import { libsignalSign, signalPublicKey, xeddsaSign } from "../helpers/xeddsa.js";

let h: Hush;
beforeAll(async () => {
  h = await startHush({ ACCESS_TOKEN_TTL: "86400" });
});
afterAll(() => h?.close());

interface Dev {
  userId: string;
  deviceId: string;
  email: string;
  token: string;
  sign: (m: Uint8Array) => Uint8Array;
}

const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");
const ecPub = () => signalPublicKey(x25519.utils.randomSecretKey());
const kemPub = () => concatBytes(Uint8Array.of(0x08), randomBytes(1568));
const signed = (d: Dev, key_id: number, pub = ecPub()) => ({
  key_id,
  public_key: b64(pub),
  signature: b64(d.sign(pub)),
});
const ecKeys = (from: number, n: number) =>
  Array.from({ length: n }, (_, i) => ({ key_id: from + i, public_key: b64(ecPub()) }));
const kemKeys = (d: Dev, from: number, n: number) =>
  Array.from({ length: n }, (_, i) => signed(d, from + i, kemPub()));
const fullUpload = (d: Dev, ec = 3, kem = 2) => ({
  registration_id: 4242,
  signed_prekey: signed(d, 7),
  one_time_prekeys: ecKeys(100, ec),
  kem_prekeys: kemKeys(d, 200, kem),
  kem_last_resort_prekey: signed(d, 9999, kemPub()),
});

/** Every 200 is checked against the response schema the route publishes. */
async function call(route: Route, d: Dev, method: string, path: string, body?: unknown) {
  const res = await h.req(method, path, { token: d.token, body });
  if (res.status === 200) route.responses[200].content["application/json"].schema.parse(res.body);
  return res;
}
type Route = { responses: { 200: { content: { "application/json": { schema: z.ZodType } } } } };
const put = (d: Dev, body: unknown) => call(r.uploadKeys, d, "PUT", "/api/v1/keys", body);
const count = async (d: Dev) => (await call(r.countKeys, d, "GET", "/api/v1/keys/count")).body;
const claim = (d: Dev, body: unknown) => call(r.claimKeys, d, "POST", "/api/v1/keys/claim", body);
/** The `prekeys_low` entries in a device's stream, as the device syncs them. */
async function lowNotices(d: Dev) {
  const res = await h.req("GET", "/api/v1/sync?since=0&limit=500", { token: d.token });
  expect(res.status).toBe(200);
  return res.body.entries.filter((e: { type: string }) => e.type === "prekeys_low").map((e: any) => e.data);
}
const devicesOf = (d: Dev, userId: string) =>
  call(listUserDevices, d, "GET", `/api/v1/users/${userId}/devices`);

async function edDevice(): Promise<Dev> {
  const a = await signUp(h);
  return { ...a, userId: a.id, sign: (m) => ed25519.sign(m, a.device.secretKey) };
}

let curveN = 0;
/** A second device on a fresh account whose identity is a Signal-style 0x05 Curve25519 key. */
async function curveDevice(signer = xeddsaSign): Promise<Dev> {
  const a = await signUp(h);
  const secretKey = x25519.utils.randomSecretKey();
  const publicKey = signalPublicKey(secretKey);
  const deviceId = `curve-${curveN++}`;
  const { res } = await logIn(h, a.email, deviceId, {
    secretKey,
    publicKey: Uint8Array.from(publicKey),
    b64: b64(publicKey),
  });
  expect(res.status).toBe(200);
  return {
    userId: a.id,
    deviceId,
    email: a.email,
    token: res.body.session_token,
    sign: (m) => signer(secretKey, m),
  };
}

const kinds = [
  ["ed25519", edDevice],
  ["curve25519 (XEdDSA)", () => curveDevice()],
  ["curve25519 (libsignal XEdDSA)", () => curveDevice(libsignalSign)],
] as const;

describe("key upload", () => {
  it.each(kinds)("stores a signed upload from an %s identity and hands it out", async (_, make) => {
    const [d, peer] = await Promise.all([make(), edDevice()]);
    const body = fullUpload(d);
    body.one_time_prekeys.push({ key_id: 103, public_key: b64(ed25519.keygen().publicKey) });
    const res = await put(d, body);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ one_time_prekeys: 4, kem_prekeys: 2 });
    expect(await count(d)).toEqual({ one_time_prekeys: 4, kem_prekeys: 2 });

    const got = await claim(peer, { user_id: d.userId, device_id: d.deviceId });
    expect(got.status).toBe(200);
    const [bundle] = got.body.devices;
    expect(bundle).toMatchObject({
      device_id: d.deviceId,
      registration_id: 4242,
      signed_prekey: body.signed_prekey,
    });
    expect(bundle.key_type).toBe(make === edDevice ? "ed25519" : "curve25519");
    expect(body.one_time_prekeys).toContainEqual(bundle.one_time_prekey);
    const { last_resort, ...kem } = bundle.kem_prekey;
    expect(last_resort).toBe(false);
    expect(body.kem_prekeys).toContainEqual(kem);
    expect(await count(d)).toEqual({ one_time_prekeys: 3, kem_prekeys: 1 });
  });

  it.each(kinds)(
    "refuses an upload with one bad signature from an %s identity, storing nothing",
    async (_, make) => {
      const [d, other, peer] = await Promise.all([make(), make(), edDevice()]);
      const body = fullUpload(d, 5, 5);
      body.kem_prekeys[3] = signed(other, 203, kemPub());
      const res = await put(d, body);
      expect(res.status).toBe(400);
      expect(res.body.code).toBe("INVALID_SIGNATURE");
      expect(res.body.fields).toEqual({ "kem_prekeys.3.signature": expect.any(String) });

      expect(await count(d)).toEqual({ one_time_prekeys: 0, kem_prekeys: 0 });
      const got = await claim(peer, { user_id: d.userId, device_id: d.deviceId });
      expect(got.body.devices).toEqual([
        expect.objectContaining({
          registration_id: null,
          signed_prekey: null,
          one_time_prekey: null,
          kem_prekey: null,
        }),
      ]);
    },
  );

  it("refuses a signature over other bytes, or by the wrong algorithm, naming each entry", async () => {
    const d = await curveDevice();
    const pub = ecPub();
    const kem = kemPub();
    const res = await put(d, {
      signed_prekey: { key_id: 1, public_key: b64(pub), signature: b64(d.sign(pub.subarray(1))) },
      kem_last_resort_prekey: {
        key_id: 2,
        public_key: b64(kem),
        signature: b64(ed25519.sign(kem, randomBytes(32))),
      },
    });
    expect(res.status).toBe(400);
    expect(Object.keys(res.body.fields).sort()).toEqual([
      "kem_last_resort_prekey.signature",
      "signed_prekey.signature",
    ]);
  });

  const ed = ed25519.keygen().publicKey;
  const malformed: [string, (d: Dev) => Record<string, unknown>, string][] = [
    [
      "bad base64",
      () => ({ one_time_prekeys: [{ key_id: 1, public_key: "not*base64" }] }),
      "one_time_prekeys.0.public_key",
    ],
    [
      "a 31-byte key",
      () => ({ one_time_prekeys: [{ key_id: 1, public_key: b64(ed.subarray(1)) }] }),
      "one_time_prekeys.0.public_key",
    ],
    [
      "a 33-byte key without 0x05",
      (d) => ({ signed_prekey: { ...signed(d, 1), public_key: b64(concatBytes(Uint8Array.of(6), ed)) } }),
      "signed_prekey.public_key",
    ],
    [
      "a low-order curve25519 point",
      () => ({
        one_time_prekeys: [
          ...ecKeys(1, 2),
          { key_id: 9, public_key: b64(concatBytes(Uint8Array.of(5), new Uint8Array(32))) },
        ],
      }),
      "one_time_prekeys.2.public_key",
    ],
    [
      "a non-canonical ed25519 point",
      () => ({ one_time_prekeys: [{ key_id: 1, public_key: b64(new Uint8Array(32).fill(0xff)) }] }),
      "one_time_prekeys.0.public_key",
    ],
    [
      "a 63-byte signature",
      (d) => ({ signed_prekey: { ...signed(d, 1), signature: b64(randomBytes(63)) } }),
      "signed_prekey.signature",
    ],
    [
      "an oversized KEM key",
      (d) => ({ kem_prekeys: [signed(d, 1, randomBytes(1601))] }),
      "kem_prekeys.0.public_key",
    ],
    [
      "a key_id beyond 24 bits",
      () => ({ one_time_prekeys: ecKeys(2 ** 24, 1) }),
      "one_time_prekeys.0.key_id",
    ],
    [
      "a repeated key_id",
      () => ({ one_time_prekeys: [...ecKeys(5, 1), ...ecKeys(5, 1)] }),
      "one_time_prekeys.1.key_id",
    ],
    ["more than 100 keys", () => ({ one_time_prekeys: ecKeys(0, 101) }), "one_time_prekeys"],
    ["registration_id 0", () => ({ registration_id: 0 }), "registration_id"],
    ["an empty upload", () => ({}), "body"],
  ];
  it.each(malformed)("refuses %s, naming the field", async (_, build, field) => {
    const d = await edDevice();
    const valid = /^(one|body)/.test(field) ? {} : { one_time_prekeys: ecKeys(50, 1) };
    const res = await put(d, { ...build(d), ...valid });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe("VALIDATION_ERROR");
    expect(Object.keys(res.body.fields)).toEqual([field]);
    expect(await count(d)).toEqual({ one_time_prekeys: 0, kem_prekeys: 0 });
  });

  it("refuses a stored key_id with 409 and caps the stock at 500 a kind", async () => {
    const d = await edDevice();
    expect((await put(d, { one_time_prekeys: ecKeys(0, 100) })).status).toBe(200);
    const clash = await put(d, { one_time_prekeys: ecKeys(98, 5) });
    expect(clash.status).toBe(409);
    expect(clash.body).toMatchObject({
      code: "CONFLICT",
      fields: { "one_time_prekeys.0.key_id": expect.any(String) },
    });
    expect(Object.keys(clash.body.fields)).toHaveLength(2);
    for (let from = 100; from < 500; from += 100) {
      expect((await put(d, { one_time_prekeys: ecKeys(from, 100) })).status).toBe(200);
    }
    const over = await put(d, { one_time_prekeys: ecKeys(500, 1), kem_prekeys: kemKeys(d, 0, 1) });
    expect(over.status).toBe(409);
    expect(over.body).toMatchObject({
      code: "PREKEY_LIMIT_REACHED",
      fields: { one_time_prekeys: expect.any(String) },
    });
    expect(await count(d)).toEqual({ one_time_prekeys: 500, kem_prekeys: 0 });
    // FerretDB scans the whole collection on every claim: leave no 500 keys behind to slow later tests.
    await h.raw("prekeys").deleteMany({ user_id: new ObjectId(d.userId) });
  });

  it("replaces the signed prekey and last-resort key on a later upload", async () => {
    const [d, peer] = await Promise.all([curveDevice(), edDevice()]);
    expect(
      (await put(d, { signed_prekey: signed(d, 1), kem_last_resort_prekey: signed(d, 2, kemPub()) })).status,
    ).toBe(200);
    const next = { signed_prekey: signed(d, 3), kem_last_resort_prekey: signed(d, 4, kemPub()) };
    expect((await put(d, next)).status).toBe(200);
    const [bundle] = (await claim(peer, { user_id: d.userId, device_id: d.deviceId })).body.devices;
    expect(bundle.signed_prekey).toEqual(next.signed_prekey);
    expect(bundle.kem_prekey).toEqual({ ...next.kem_last_resort_prekey, last_resort: true });
  });
});

describe("claims", () => {
  it("hands each one-time key out exactly once under concurrent claims", async () => {
    const [d, peer] = await Promise.all([edDevice(), curveDevice()]);
    const lastResort = signed(d, 9999, kemPub());
    const up = await put(d, {
      signed_prekey: signed(d, 1),
      one_time_prekeys: ecKeys(0, 50),
      kem_prekeys: kemKeys(d, 0, 50),
      kem_last_resort_prekey: lastResort,
    });
    expect(up.status).toBe(200);
    const results = await Promise.all(Array.from({ length: 80 }, () => claim(peer, { user_id: d.userId })));
    expect(results.map((r) => r.status)).toEqual(Array(80).fill(200));
    const bundles = results.map((r) => r.body.devices[0]);
    const ec = bundles.map((b) => b.one_time_prekey?.key_id).filter((k) => k !== undefined);
    const kem = bundles.filter((b) => !b.kem_prekey.last_resort).map((b) => b.kem_prekey.key_id);
    expect(ec).toHaveLength(50);
    expect(new Set(ec).size).toBe(50);
    expect(kem).toHaveLength(50);
    expect(new Set(kem).size).toBe(50);
    const fallbacks = bundles.filter((b) => b.kem_prekey.last_resort);
    expect(fallbacks).toHaveLength(30);
    for (const b of fallbacks) expect(b.kem_prekey).toEqual({ ...lastResort, last_resort: true });
    expect(await count(d)).toEqual({ one_time_prekeys: 0, kem_prekeys: 0 });
  }, 60_000); // 80 concurrent claims queue up on the single-writer SQLite store

  it("falls back to the last-resort KEM key, or null without one", async () => {
    const [d, peer] = await Promise.all([edDevice(), edDevice()]);
    await put(d, { signed_prekey: signed(d, 1), kem_prekeys: kemKeys(d, 10, 1) });
    const first = (await claim(peer, { user_id: d.userId })).body.devices[0];
    expect(first.kem_prekey).toMatchObject({ key_id: 10, last_resort: false });
    expect(first.one_time_prekey).toBeNull();
    expect((await claim(peer, { user_id: d.userId })).body.devices[0].kem_prekey).toBeNull();
    const lastResort = signed(d, 11, kemPub());
    await put(d, { kem_last_resort_prekey: lastResort });
    for (let i = 0; i < 2; i++) {
      const again = (await claim(peer, { user_id: d.userId })).body.devices[0];
      expect(again.kem_prekey).toEqual({ ...lastResort, last_resort: true });
    }
  });

  it("spends no one-time keys of a device without a signed prekey", async () => {
    const [d, peer] = await Promise.all([edDevice(), edDevice()]);
    await put(d, { one_time_prekeys: ecKeys(0, 2), kem_prekeys: kemKeys(d, 0, 2) });
    const [bundle] = (await claim(peer, { user_id: d.userId })).body.devices;
    expect(bundle).toMatchObject({ signed_prekey: null, one_time_prekey: null, kem_prekey: null });
    expect(await count(d)).toEqual({ one_time_prekeys: 2, kem_prekeys: 2 });
  });

  it("lets a user claim their own devices and 404s an unknown device or user", async () => {
    const d = await edDevice();
    await put(d, { signed_prekey: signed(d, 1), one_time_prekeys: ecKeys(0, 1) });
    const own = await claim(d, { user_id: d.userId, device_id: d.deviceId });
    expect(own.status).toBe(200);
    expect(own.body.devices[0].one_time_prekey.key_id).toBe(0);
    expect((await claim(d, { user_id: d.userId, device_id: "nope" })).body.code).toBe("NOT_FOUND");
    const ghost = await claim(d, { user_id: new ObjectId().toHexString() });
    expect(ghost).toMatchObject({ status: 404, body: { code: "USER_NOT_FOUND" } });
    expect((await claim(d, { user_id: "xyz" })).body.fields).toHaveProperty("user_id");
  });

  it("no number of accounts drains a device: it hands out 100 one-time keys a day, then only its fallbacks", async () => {
    const d = await edDevice();
    const lastResort = signed(d, 9999, kemPub());
    await put(d, { signed_prekey: signed(d, 1), kem_last_resort_prekey: lastResort });
    for (let i = 0; i < 3; i++)
      expect((await put(d, { one_time_prekeys: ecKeys(i * 100, 100) })).status).toBe(200);
    const drainers = await Promise.all(Array.from({ length: 5 }, () => edDevice()));
    const bundles = [];
    for (let round = 0; round < 25; round++) {
      for (const x of drainers) {
        const r = await claim(x, { user_id: d.userId, device_id: d.deviceId });
        expect(r.status).toBe(200);
        bundles.push(r.body.devices[0]);
      }
    }
    const fresh = bundles.filter((b) => b.one_time_prekey !== null);
    expect(fresh).toHaveLength(r.deviceClaimRule.limit);
    expect(new Set(fresh.map((b) => b.one_time_prekey.key_id)).size).toBe(r.deviceClaimRule.limit);
    // Past the budget a claim still starts a session: signed prekey and last-resort KEM key.
    const late = bundles.at(-1);
    expect(late).toMatchObject({ one_time_prekey: null, signed_prekey: { key_id: 1 } });
    expect(late.kem_prekey).toEqual({ ...lastResort, last_resort: true });
    // The device sees what is left (its signal to top up), and the stock was not drained.
    expect(await count(d)).toEqual({ one_time_prekeys: 300 - r.deviceClaimRule.limit, kem_prekeys: 0 });
    // ...and is told once, through its stream, that its budget for the day is spent.
    expect(await lowNotices(d)).toEqual([
      { one_time_prekeys: 300 - r.deviceClaimRule.limit, kem_prekeys: 0, reason: "claim_budget_spent" },
    ]);
    await h.raw("prekeys").deleteMany({ user_id: new ObjectId(d.userId) });
  }, 60_000);

  it("tells a device in its stream when a claim leaves a kind below the top-up mark, once an hour", async () => {
    const [d, peer] = await Promise.all([edDevice(), edDevice()]);
    const mark = r.PREKEY_LOW_MARK;
    await put(d, { signed_prekey: signed(d, 1), one_time_prekeys: ecKeys(0, 100) });
    expect((await put(d, { one_time_prekeys: ecKeys(100, 1) })).status).toBe(200);
    // mark + 1 keys: the first claim leaves exactly the mark, the second one fewer.
    await claim(peer, { user_id: d.userId });
    expect(await lowNotices(d)).toEqual([]);
    await claim(peer, { user_id: d.userId });
    const first = { one_time_prekeys: mark - 1, kem_prekeys: 0, reason: "low" };
    expect(await lowNotices(d)).toEqual([first]);
    await claim(peer, { user_id: d.userId });
    expect(await lowNotices(d)).toEqual([first]);
    h.clock.advance(2 * 3_600);
    await claim(peer, { user_id: d.userId });
    expect(await lowNotices(d)).toEqual([first, { ...first, one_time_prekeys: mark - 3 }]);
    // Only the device itself is told.
    expect(await lowNotices(peer)).toEqual([]);
  });

  it("limits claims to 100 a minute per caller", async () => {
    const [d, peer] = await Promise.all([edDevice(), edDevice()]);
    for (let i = 0; i < 100; i++) expect((await claim(peer, { user_id: d.userId })).status).toBe(200);
    const limited = await claim(peer, { user_id: d.userId });
    expect(limited.status).toBe(429);
    expect(limited.body.code).toBe("RATE_LIMITED");
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    h.clock.advance(Number(limited.headers.get("retry-after")));
    expect((await claim(peer, { user_id: d.userId })).status).toBe(200);
  });
});

describe("device directory", () => {
  it("lists a user's devices, drops a revoked one at once, and empties on account deletion", async () => {
    const [a, peer] = await Promise.all([edDevice(), edDevice()]);
    const { res } = await logIn(h, a.email, "second");
    const b: Dev = { ...a, deviceId: "second", token: res.body.session_token };
    await put(a, { registration_id: 11, signed_prekey: signed(a, 1), one_time_prekeys: ecKeys(0, 3) });
    await put(b, { registration_id: 22 });

    const list = await devicesOf(peer, a.userId);
    expect(list.status).toBe(200);
    expect(list.body.devices).toHaveLength(2);
    expect(list.body.devices).toEqual(
      expect.arrayContaining([
        {
          device_id: a.deviceId,
          device_name: "Test Device",
          identity_key: expect.any(String),
          key_type: "ed25519",
          registration_id: 11,
          account_signature: null,
          account_key: null,
        },
        expect.objectContaining({ device_id: "second", registration_id: 22, device_name: "Second Device" }),
      ]),
    );

    expect((await h.req("DELETE", `/api/v1/devices/${a.deviceId}`, { token: b.token })).status).toBe(204);
    expect((await devicesOf(peer, a.userId)).body.devices.map((x: any) => x.device_id)).toEqual(["second"]);
    expect((await claim(peer, { user_id: a.userId, device_id: a.deviceId })).status).toBe(404);
    expect((await claim(peer, { user_id: a.userId })).body.devices.map((x: any) => x.device_id)).toEqual([
      "second",
    ]);
    expect(await h.raw("prekeys").countDocuments({ device_id: a.deviceId })).toBe(0);

    expect((await h.req("DELETE", "/api/v1/users/me", { token: b.token })).status).toBe(204);
    expect((await devicesOf(peer, a.userId)).body.code).toBe("USER_NOT_FOUND");
    expect((await claim(peer, { user_id: a.userId })).status).toBe(404);
  });

  it("hides a user who has blocked the caller, exactly like an unknown one", async () => {
    const [target, blocked, bystander] = await Promise.all([edDevice(), edDevice(), edDevice()]);
    await put(target, { signed_prekey: signed(target, 1), one_time_prekeys: ecKeys(0, 1) });
    await h.raw("blocks").insertOne({
      _id: new ObjectId(),
      blocker_id: new ObjectId(target.userId),
      blocked_id: new ObjectId(blocked.userId),
      created_at: h.clock.now(),
    });
    const unknown = await devicesOf(blocked, new ObjectId().toHexString());
    const list = await devicesOf(blocked, target.userId);
    expect(list.status).toBe(404);
    expect(list.body).toEqual(unknown.body);
    const got = await claim(blocked, { user_id: target.userId });
    expect(got).toMatchObject({ status: 404, body: { code: "USER_NOT_FOUND" } });
    expect(await count(target)).toEqual({ one_time_prekeys: 1, kem_prekeys: 0 });
    expect((await devicesOf(bystander, target.userId)).status).toBe(200);
    expect((await devicesOf(target, blocked.userId)).status).toBe(200);
  });

  it("requires a bearer token and publishes the routes", async () => {
    expect((await h.req("GET", "/api/v1/keys/count")).status).toBe(401);
    expect((await h.req("POST", "/api/v1/keys/claim", { body: {} })).status).toBe(401);
    const spec = (await h.req("GET", "/openapi.json")).body;
    expect(spec.paths["/api/v1/keys"].put.operationId).toBe("uploadKeys");
    expect(spec.paths["/api/v1/keys/claim"].post.tags).toEqual(["Keys"]);
    expect(spec.paths["/api/v1/users/{user_id}/devices"].get.operationId).toBe("listUserDevices");
  });
});
