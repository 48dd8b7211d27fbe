import { ObjectId } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEPART_STEPS, JOIN_STEPS } from "../../src/conversations/members.js";
import { CREATE_STEPS, SETTING_STEPS } from "../../src/conversations/settings.js";
import { inventory } from "../../src/inventory.js";
import { LINK_STEPS } from "../../src/linking/link.js";
import { DELETE_STEPS } from "../../src/messages/actions.js";
import { EDIT_STEPS } from "../../src/messages/edit.js";
import { OPEN_STEPS } from "../../src/messages/view-once.js";
import { OP_LEASE_MS } from "../../src/recovery/ops.js";
import { addDevice, type Device, devicesIn, encrypt, group, newAccount, send } from "../helpers/e2e.js";
import { type Hush, linkSignature, logIn, newDeviceKey, signUp, startHush } from "../helpers/hush.js";
import { type Spawned, spawnServer } from "../helpers/spawned.js";

/*
 * Edits, deletions for everyone, view-once opens, departures, additions, a conversation's creation
 * and a change of its settings, and account erasures are each several writes, recorded first (src/recovery/ops.ts). Each walk below kills a server at the
 * operation's first step boundary, in the client's own request; then starts a server on the same
 * data past the dead one's lease, whose recovery sweep takes the operation over and is killed at
 * the next boundary; and so on through every boundary, until a last server finishes it. So every
 * step boundary is a crash point that a resumed operation must get past. Then the outcome is
 * checked as if nothing had died: counters exact, every device told, nothing left behind.
 */

let h: Hush;
beforeAll(async () => {
  h = await startHush();
});
afterAll(() => h?.close());

const db = () => ({ dbName: h.deps.store.db.databaseName });
const env = (offset: number, extra: Record<string, string>) => ({
  JWT_SECRET: h.deps.config.JWT_SECRET,
  TEST_CLOCK_OFFSET_MS: String(offset),
  ...extra,
});
const lease = OP_LEASE_MS + 5_000;

async function call(url: string, d: Device, method: string, path: string, body?: unknown) {
  const res = await fetch(`${url}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${d.token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: res.status === 204 ? null : await res.json() };
}

/** Kills the request's server at steps[0], each recovering server at the next step; a last one finishes. */
async function walk(steps: readonly string[], act: (url: string) => Promise<unknown>) {
  const started: Spawned[] = [];
  const spawn = async (offset: number, extra: Record<string, string>) => {
    const s = await spawnServer(env(offset, extra), db());
    started.push(s);
    return s;
  };
  try {
    const first = await spawn(0, { TEST_CRASH_AT: steps[0]!, EXPIRY_INTERVAL_MS: "3600000" });
    await expect(act(first.url)).rejects.toThrow();
    expect(await first.exited).toBe("SIGKILL");
    let offset = 0;
    for (const step of steps.slice(1)) {
      offset += lease;
      // A recovering server may die before it has even said it listens: either way, at the step.
      const died = await spawn(offset, { TEST_CRASH_AT: step, EXPIRY_INTERVAL_MS: "100" }).then(
        (s) => Promise.race([s.exited, new Promise((r) => setTimeout(() => r("still running"), 60_000))]),
        (err: Error) => err.message,
      );
      expect(String(died), `killed at ${step}`).toContain("SIGKILL");
    }
    await spawn(offset + lease, { EXPIRY_INTERVAL_MS: "100" });
    for (let i = 0; i < 300 && (await h.raw("operations").countDocuments({})); i++)
      await new Promise((r) => setTimeout(r, 50));
    expect(await h.raw("operations").countDocuments({})).toBe(0);
  } finally {
    // A server that failed to die where it should must not go on finishing the next walk's work.
    await Promise.all(started.map((s) => s.stop()));
  }
}

async function entries(d: Device) {
  const res = await h.req("GET", "/api/v1/sync?since=0&limit=500", { token: d.token });
  expect(res.status).toBe(200);
  const list = res.body.entries as { position: number; type: string; data: any }[];
  expect(list.map((e) => e.position)).toEqual(list.map((_, i) => list[0]!.position + i));
  return list;
}
const about = (list: { type: string; data: any }[], type: string, id: string) =>
  list.filter((e) => e.type === type && (e.data.message_id ?? e.data.message?.id) === id);

/** Alice (two devices) and Bob (two devices) in a group with Carol; one message from Alice. */
async function scene(extra: Record<string, unknown> = {}) {
  const a = await newAccount(h);
  const a2 = await addDevice(h, a);
  const b = await newAccount(h);
  const b2 = await addDevice(h, b);
  const c = await newAccount(h);
  const g = await group(h, a, [b, c]);
  const sent = await send(h, a, g, "hello", extra);
  expect(sent.res.status).toBe(201);
  return { a, a2, b, b2, c, g, id: sent.res.body.id as string };
}

// Each walk starts a server per step (a few seconds each on a shared 2-core machine).
const WALK_MS = 240_000;

describe("every step boundary of", () => {
  it(
    "a deletion for everyone",
    async () => {
      const s = await scene();
      await walk(DELETE_STEPS, (url) =>
        call(url, s.a, "DELETE", `/messages/${s.id}`, { delete_for_everyone: true }),
      );
      const page = await h.req("GET", `/api/v1/messages/conversations/${s.g}/messages`, { token: s.b.token });
      expect(page.body.messages[0]).toMatchObject({ id: s.id, is_deleted: true, encrypted_content: null });
      expect(await h.raw("message_keys").countDocuments({ message_id: new ObjectId(s.id) })).toBe(0);
      for (const d of [s.b, s.c]) {
        const seen = await h.req("GET", `/api/v1/conversations/${s.g}`, { token: d.token });
        expect(seen.body.unread_count).toBe(0);
      }
      for (const d of [s.a2, s.b, s.b2, s.c])
        expect(about(await entries(d), "message_deleted", s.id)).toHaveLength(1);
    },
    WALK_MS,
  );

  it(
    "an edit",
    async () => {
      const s = await scene();
      const sealed = encrypt("hello, edited", await devicesIn(h, s.a, s.g));
      const body = { encrypted_content: sealed.encrypted_content, recipient_keys: sealed.recipient_keys };
      await walk(EDIT_STEPS, (url) => call(url, s.a, "PUT", `/messages/${s.id}`, body));
      const page = await h.req("GET", `/api/v1/messages/conversations/${s.g}/messages`, { token: s.b.token });
      expect(page.body.messages[0]).toMatchObject({ id: s.id, encrypted_content: sealed.encrypted_content });
      const versions = await h.raw("message_keys").distinct("version", { message_id: new ObjectId(s.id) });
      expect(versions).toEqual([1]);
      for (const d of [s.a2, s.b, s.b2, s.c])
        expect(about(await entries(d), "message_edited", s.id)).toHaveLength(1);
    },
    WALK_MS,
  );

  it(
    "a view-once open",
    async () => {
      const s = await scene({ view_once: true });
      const key = await h
        .raw("message_keys")
        .findOne({ message_id: new ObjectId(s.id), device_id: s.b.deviceId });
      await walk(OPEN_STEPS, (url) => call(url, s.b, "POST", `/messages/${s.id}/open`));
      // That device's key is gone, the sender's devices were told once, the others can still open.
      expect(await h.raw("message_keys").findOne({ _id: key!._id })).toBeNull();
      for (const d of [s.a, s.a2]) expect(about(await entries(d), "message_viewed", s.id)).toHaveLength(1);
      expect((await h.req("POST", `/api/v1/messages/${s.id}/open`, { token: s.b.token })).status).toBe(410);
      expect((await h.req("POST", `/api/v1/messages/${s.id}/open`, { token: s.b2.token })).status).toBe(200);
    },
    WALK_MS,
  );

  it(
    "a member leaving",
    async () => {
      const s = await scene();
      await walk(DEPART_STEPS, (url) => call(url, s.b, "POST", `/conversations/${s.g}/leave`));
      const conversation = await h.raw("conversations").findOne({ _id: new ObjectId(s.g) });
      expect(conversation).toMatchObject({ member_count: 2 });
      expect(conversation!.pending_ops ?? []).toEqual([]);
      const members = await h
        .raw("conversation_members")
        .find({ conversation_id: conversation!._id })
        .toArray();
      expect(members.map((m) => m.user_id.toHexString()).sort()).toEqual([s.a.userId, s.c.userId].sort());
      const left = (d: Device) => entries(d).then((l) => l.filter((e) => e.type === "conversation_updated"));
      for (const d of [s.a, s.c])
        expect((await left(d)).some((e) => e.data.reason === "member_left")).toBe(true);
    },
    WALK_MS,
  );

  it(
    "a member being added",
    async () => {
      const s = await scene();
      const d = await newAccount(h);
      await walk(JOIN_STEPS, (url) =>
        call(url, s.a, "POST", `/conversations/${s.g}/members`, { user_id: d.userId }),
      );
      const conversation = await h.raw("conversations").findOne({ _id: new ObjectId(s.g) });
      expect(conversation).toMatchObject({ member_count: 4, joins: 4 });
      expect(conversation!.pending_ops ?? []).toEqual([]);
      expect(
        await h
          .raw("conversation_members")
          .countDocuments({ conversation_id: conversation!._id, user_id: new ObjectId(d.userId) }),
      ).toBe(1);
      const added = (await entries(d)).filter((e) => e.type === "conversation_updated");
      expect(added.some((e) => e.data.reason === "member_added")).toBe(true);
      const again = await h.req("POST", `/api/v1/conversations/${s.g}/members`, {
        token: s.a.token,
        body: { user_id: d.userId },
      });
      expect(again.status).toBe(409);
    },
    WALK_MS,
  );

  /** The `conversation_updated` entries about one conversation in a device's stream, by reason. */
  const told = async (d: Device, id: string, reason: string) =>
    (await entries(d)).filter(
      (e) => e.type === "conversation_updated" && e.data.conversation_id === id && e.data.reason === reason,
    );

  it(
    "a group's creation",
    async () => {
      const a = await newAccount(h);
      const a2 = await addDevice(h, a);
      const b = await newAccount(h);
      const c = await newAccount(h);
      const name = `Walk ${new ObjectId().toHexString()}`;
      await walk(CREATE_STEPS, (url) =>
        call(url, a, "POST", "/conversations/groups", { name, participant_ids: [b.userId, c.userId] }),
      );
      const made = await h.raw("conversations").find({ name }).toArray();
      expect(made).toHaveLength(1);
      expect(made[0]).toMatchObject({ kind: "group", member_count: 3, joins: 3 });
      const members = await h
        .raw("conversation_members")
        .find({ conversation_id: made[0]!._id })
        .sort({ rank: 1 })
        .toArray();
      expect(members.map((m) => [m.user_id.toHexString(), m.role])).toEqual([
        [a.userId, "admin"],
        [b.userId, "member"],
        [c.userId, "member"],
      ]);
      const id = made[0]!._id.toHexString();
      for (const d of [a2, b, c]) expect((await told(d, id, "created")).length).toBeGreaterThanOrEqual(1);
      const listed = await h.req("GET", `/api/v1/conversations/${id}`, { token: c.token });
      expect(listed.status).toBe(200);
    },
    WALK_MS,
  );

  it(
    "a 1:1's creation",
    async () => {
      const a = await newAccount(h);
      const b = await newAccount(h);
      const b2 = await addDevice(h, b);
      await walk(CREATE_STEPS, (url) => call(url, a, "POST", "/conversations", { participant_id: b.userId }));
      const again = await h.req("POST", "/api/v1/conversations", {
        token: a.token,
        body: { participant_id: b.userId },
      });
      expect(again.status).toBe(200);
      const id = again.body.id as string;
      const members = await h
        .raw("conversation_members")
        .countDocuments({ conversation_id: new ObjectId(id) });
      expect(members).toBe(2);
      for (const d of [b, b2]) expect((await told(d, id, "created")).length).toBeGreaterThanOrEqual(1);
    },
    WALK_MS,
  );

  it(
    "an admin stepping down (a step-down resumed after its write is not refused by its own first run)",
    async () => {
      const s = await scene();
      const named = await h.req("POST", `/api/v1/conversations/${s.g}/admins`, {
        token: s.a.token,
        body: { user_id: s.b.userId },
      });
      expect(named.status).toBe(200);
      await walk(SETTING_STEPS, (url) =>
        call(url, s.b, "DELETE", `/conversations/${s.g}/admins/${s.b.userId}`),
      );
      const roles = await h
        .raw("conversation_members")
        .find({ conversation_id: new ObjectId(s.g) })
        .sort({ rank: 1 })
        .toArray();
      expect(roles.map((m) => m.role)).toEqual(["admin", "member", "member"]);
      for (const d of [s.a, s.a2, s.b2, s.c])
        expect((await told(d, s.g, "admin_removed")).length).toBeGreaterThanOrEqual(1);
    },
    WALK_MS,
  );

  it(
    "an account's erasure, collection by collection",
    async () => {
      const s = await scene();
      const steps = ["erase_account.recorded", ...inventory.map((c) => `erase_account.${c.name}`)];
      await walk(steps, (url) => call(url, s.c, "DELETE", "/users/me"));
      const id = new ObjectId(s.c.userId);
      expect(await h.raw("users").countDocuments({ _id: id })).toBe(0);
      expect(await h.raw("devices").countDocuments({ user_id: id })).toBe(0);
      expect(await h.raw("conversation_members").countDocuments({ user_id: id })).toBe(0);
      expect(await h.raw("conversations").findOne({ _id: new ObjectId(s.g) })).toMatchObject({
        member_count: 2,
      });
    },
    WALK_MS,
  );

  it("a view-once open killed after its key was kept: the same device's retry gets that key", async () => {
    const s = await scene({ view_once: true });
    const key = await h
      .raw("message_keys")
      .findOne({ message_id: new ObjectId(s.id), device_id: s.b.deviceId });
    const doomed = await spawnServer(
      env(0, { TEST_CRASH_AT: "open.taken", EXPIRY_INTERVAL_MS: "3600000" }),
      db(),
    );
    await expect(call(doomed.url, s.b, "POST", `/messages/${s.id}/open`)).rejects.toThrow();
    expect(await doomed.exited).toBe("SIGKILL");
    expect(await h.raw("message_keys").findOne({ _id: key!._id })).toBeNull();
    const restarted = await spawnServer(env(lease, { EXPIRY_INTERVAL_MS: "3600000" }), db());
    try {
      const retry = await call(restarted.url, s.b, "POST", `/messages/${s.id}/open`);
      expect(retry.status).toBe(200);
      expect(retry.body.encrypted_key).toBe(key!.encrypted_key);
      expect(await h.raw("operations").countDocuments({})).toBe(0);
      expect((await call(restarted.url, s.b, "POST", `/messages/${s.id}/open`)).status).toBe(410);
    } finally {
      await restarted.stop();
    }
  });

  it(
    "a device's approval",
    async () => {
      const accountKey = newDeviceKey();
      const bob = await signUp(h, { deviceId: "phone", accountKey });
      const phone = {
        userId: bob.id,
        deviceId: bob.deviceId,
        email: bob.email,
        token: bob.token,
        secretKey: bob.device.secretKey,
      };
      const laptopKey = newDeviceKey();
      expect((await logIn(h, bob.email, "laptop", laptopKey)).res.status).toBe(200);
      const a = await newAccount(h);
      const g = await group(h, a, [phone]);
      const account_signature = linkSignature(accountKey.secretKey, "laptop", laptopKey.b64);
      await walk(LINK_STEPS, (url) =>
        call(url, phone, "POST", "/devices/laptop/approve", { account_signature }),
      );
      const listed = await h.req("GET", `/api/v1/conversations/${g}/devices`, { token: a.token });
      expect(listed.body.devices.map((d: { device_id: string }) => d.device_id)).toContain("laptop");
      const told = (await entries(a)).filter((e) => e.type === "devices_changed");
      expect(told.length).toBeGreaterThanOrEqual(1);
      expect(told.some((e) => e.data.device?.device_id === "laptop")).toBe(true);
    },
    WALK_MS,
  );
});
