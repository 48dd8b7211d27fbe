import { createECDH, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { ed25519, x25519 } from "@noble/curves/ed25519.js";
import { BSON } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { record } from "../../src/admin/repo.js";
import { inventory } from "../../src/inventory.js";
import { createInvite } from "../../src/invites/repo.js";
import { storageDoc } from "../../src/openapi-doc.js";
import { wire } from "../helpers/e2e.js";
import {
  type Account,
  type Hush,
  linkSignature,
  logIn,
  newDeviceKey,
  signUp,
  startHush,
} from "../helpers/hush.js";
import { connect } from "../helpers/ws.js";

let h: Hush;
beforeAll(async () => {
  h = await startHush();
});
afterAll(() => h?.close());

const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");
const ecPub = () => Uint8Array.of(5, ...x25519.getPublicKey(x25519.utils.randomSecretKey()));

/** A 1:1 conversation both ways: messages, keys for each device, receipts, a deletion for one, a group. */
async function converse(a: Account, other: Account) {
  const as = (acc: Account) => ({ token: acc.token });
  const conv = await h.req("POST", "/api/v1/conversations", { ...as(a), body: { participant_id: other.id } });
  const id = conv.body.id;
  const sendAs = async (from: Account, text: string) => {
    const list = await h.req("GET", `/api/v1/conversations/${id}/devices`, as(from));
    const to = list.body.devices.filter(
      (d: any) => !(d.user_id === from.id && d.device_id === from.deviceId),
    );
    const body = { conversation_id: id, client_message_id: `c-${text}`, ...wire(text, to) };
    const res = await h.req("POST", "/api/v1/messages", { ...as(from), body });
    expect(res.status).toBe(201);
    return res.body.id as string;
  };
  const mine = await sendAs(a, "from-a");
  const theirs = await sendAs(other, "from-them");
  expect((await h.req("POST", `/api/v1/messages/${theirs}/delivered`, as(a))).status).toBe(200);
  expect((await h.req("POST", `/api/v1/messages/${theirs}/read`, as(a))).status).toBe(200);
  expect((await h.req("POST", `/api/v1/messages/${mine}/read`, as(other))).status).toBe(200);
  expect((await h.req("DELETE", `/api/v1/messages/${theirs}`, as(a))).status).toBe(200);
  const third = await signUp(h);
  const g = await h.req("POST", "/api/v1/conversations/groups", {
    ...as(a),
    body: { name: "Inventory", participant_ids: [other.id, third.id] },
  });
  expect(g.status).toBe(201);
}

/** Touches every feature for `a`: keys, contacts, blocks, sessions, rate limits, conversations and messages. */
async function useEverything(a: Account, other: Account) {
  await converse(a, other);
  expect((await h.req("GET", "/readyz")).status).toBe(200); // its write probe
  const spk = ecPub();
  const upload = await h.req("PUT", "/api/v1/keys", {
    token: a.token,
    body: {
      signed_prekey: {
        key_id: 1,
        public_key: b64(spk),
        signature: b64(ed25519.sign(spk, a.device.secretKey)),
      },
      one_time_prekeys: [{ key_id: 10, public_key: b64(ecPub()) }],
    },
  });
  expect(upload.status).toBe(200);
  expect(
    (await h.req("POST", "/api/v1/contacts", { token: a.token, body: { user_id: other.id } })).status,
  ).toBe(201);
  const blocker = await signUp(h);
  expect((await h.req("POST", `/api/v1/users/${a.id}/block`, { token: blocker.token })).status).toBe(204);
  const unknown = "0123456789abcdef01234567";
  expect((await h.req("POST", `/api/v1/users/${unknown}/block`, { token: a.token })).status).toBe(204);
  await h.req("POST", "/api/v1/auth/refresh", { body: { refresh_token: a.refresh } });
  // An account key (another, signed account) and a reset of `a`'s waiting out its period.
  await signUp(h, { accountKey: newDeviceKey() });
  const next = newDeviceKey();
  const reset = await h.req("POST", "/api/v1/account-key/reset", {
    token: a.token,
    body: {
      public_key: next.b64,
      account_signature: linkSignature(next.secretKey, a.deviceId, a.device.b64),
    },
  });
  expect(reset.status).toBe(202);
  // A push subscription, and the server's VAPID key (no account's data).
  const push = await h.req("PUT", "/api/v1/push/subscription", {
    token: a.token,
    body: {
      endpoint: "https://push.example.com/wpush/1",
      keys: {
        p256dh: createECDH("prime256v1").generateKeys().toString("base64url"),
        auth: randomBytes(16).toString("base64url"),
      },
    },
  });
  expect(push.status).toBe(204);
  expect((await h.req("GET", "/api/v1/push/vapid", { token: a.token })).status).toBe(200);
}

/** Every stored document, in every collection, that mentions one of `needles` anywhere. */
async function mentions(...needles: string[]) {
  const found: string[] = [];
  for (const { name } of await h.deps.store.db.listCollections().toArray()) {
    for (const doc of await h.raw(name).find().toArray()) {
      const text = BSON.EJSON.stringify(doc);
      if (needles.some((n) => text.includes(n))) found.push(`${name}: ${text}`);
    }
  }
  return found;
}

describe("the inventory of what Hush stores", () => {
  it("is published in docs/storage.md, generated from the owners' declarations", () => {
    const committed = readFileSync(new URL("../../docs/storage.md", import.meta.url), "utf8");
    expect(committed).toBe(storageDoc());
  });

  it("gives every expiring collection an expires_at index, never a wall-clock TTL one under the test clock", async () => {
    for (const c of inventory.filter((c) => c.expires)) {
      const indexes = await h.deps.store.db.collection(c.name).indexes();
      const expiry = indexes.find((i) => JSON.stringify(i.key) === '{"expires_at":1}');
      expect(expiry, c.name).toBeDefined();
      expect(expiry?.expireAfterSeconds, c.name).toBeUndefined();
    }
  });

  it("declares every collection the server writes", async () => {
    const [a, b] = [await signUp(h), await signUp(h)];
    await useEverything(a, b);
    // These two are written by the operator's command (npm run admin), not by requests.
    await createInvite(h.deps, { uses: 1, expiresAt: null });
    await record(h.deps, { actor: "test", action: "stats", target: null, details: {} });
    const declared = new Set(inventory.map((c) => c.name));
    const stored = (await h.deps.store.db.listCollections().toArray()).map((c) => c.name);
    expect(stored.filter((n) => !declared.has(n))).toEqual([]);
    expect(stored.length).toBeGreaterThanOrEqual(inventory.length - 1);
  });

  it("account deletion leaves no document that mentions the account, in any collection", async () => {
    const [a, b] = [await signUp(h), await signUp(h)];
    await logIn(h, a.email, "second-device");
    await useEverything(a, b);
    // Realtime too: contacts with sockets open, so there are stream entries, presence and
    // announcements that name the account.
    expect((await h.req("POST", `/api/v1/contacts/${a.id}/accept`, { token: b.token })).status).toBe(200);
    const watcher = await connect(h, b.token);
    const socket = await connect(h, a.token);
    await watcher.client.next("user_status");
    expect(await mentions(a.id, a.email)).not.toEqual([]);
    expect((await h.req("DELETE", "/api/v1/users/me", { token: a.token })).status).toBe(204);
    expect((await socket.client.closed).code).toBe(4003);
    await watcher.client.close();
    expect(await mentions(a.id, a.email)).toEqual([]);
    expect(await mentions(b.id)).not.toEqual([]); // the other account is untouched
  });

  it("device removal erases what belonged to that device only", async () => {
    const [a, b] = [await signUp(h), await signUp(h)];
    await useEverything(a, b);
    const { res } = await logIn(h, a.email, "second-device");
    const second = res.body.session_token;
    const ofDevice = async (deviceId: string) =>
      (await mentions(a.id)).filter((m) => m.includes(`"device_id":"${deviceId}"`));
    expect(await ofDevice(a.deviceId)).not.toEqual([]);
    expect((await h.req("DELETE", `/api/v1/devices/${a.deviceId}`, { token: second })).status).toBe(204);
    expect(await ofDevice(a.deviceId)).toEqual([]);
    expect(await ofDevice("second-device")).not.toEqual([]);
  });
});
