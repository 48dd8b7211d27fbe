import { randomBytes } from "node:crypto";
import { ObjectId } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Change } from "../../src/delivery/deliver.js";
import { sweepOnce } from "../../src/jobs/jobs.js";
import {
  addDevice,
  type Device,
  decrypt,
  devicesIn,
  direct,
  group,
  history,
  newAccount,
  send,
  unwrap,
  wire,
} from "../helpers/e2e.js";
import { type Hush, startHush } from "../helpers/hush.js";
import { type Client, connect } from "../helpers/ws.js";

let h: Hush;
// A second process on the same database (stream tests only): same secret, so tokens work on both.
const env = { ACCESS_TOKEN_TTL: "86400", JWT_SECRET: randomBytes(32).toString("hex") };
const dbName = `hush_eph_${randomBytes(4).toString("hex")}`;
beforeAll(async () => {
  // Access tokens outlive the timers the clock is moved across.
  h = await startHush(env, { dbName });
});
afterAll(() => h?.close());

const api = (d: Device, method: string, path: string, body?: unknown) =>
  h.req(method, `/api/v1${path}`, { token: d.token, body });
const open = (d: Device, m: string) => api(d, "POST", `/messages/${m}/open`);
const byId = async (d: Device, id: string, m: string) =>
  (await history(h, d, id, "?limit=100")).body.messages.find((x: { id: string }) => x.id === m);
const changesOf = (type: Change["type"], messageId: string) =>
  h.changes.filter((c) => c.type === type && "message_id" in c && c.message_id.toHexString() === messageId);
const devicesNamed = (c: Change) => c.targets.map((t) => `${t.user_id.toHexString()}:${t.device_id}`).sort();

describe("view-once", () => {
  it("reaches recipients without their key; each device opens it once; the last open erases it", async () => {
    const a = await newAccount(h);
    const b1 = await newAccount(h);
    const b2 = await addDevice(h, b1);
    const id = await direct(h, a, b1);
    const sent = await send(h, a, id, "see me once", { view_once: true });
    expect(sent.res.status).toBe(201);
    const m = sent.res.body.id as string;

    // Neither history nor the new_message change carries a recipient's key.
    const seen = await byId(b1, id, m);
    expect(seen.recipient_keys).toEqual([]);
    expect(seen.metadata).toMatchObject({ view_once: true, opened: false });
    const [announced] = changesOf("new_message", m);
    expect(announced!.type === "new_message" && announced!.targets.map((t) => t.encrypted_key)).toEqual([
      null,
      null,
    ]);

    // Twenty racing opens from b1's device: exactly one gets the key, and it opens the content.
    const opens = await Promise.all(Array.from({ length: 20 }, () => open(b1, m)));
    expect(opens.filter((r) => r.status === 200)).toHaveLength(1);
    expect(opens.filter((r) => r.status === 410).every((r) => r.body.code === "VIEW_ONCE_OPENED")).toBe(true);
    expect(opens.filter((r) => r.status === 410)).toHaveLength(19);
    const key = opens.find((r) => r.status === 200)!.body;
    expect(key).toMatchObject({ message_id: m, user_id: b1.userId, device_id: b1.deviceId });
    expect(Buffer.from(unwrap(b1, key.encrypted_key))).toEqual(Buffer.from(sent.sealed.messageKey));
    expect((await byId(b1, id, m)).metadata.opened).toBe(true);
    expect((await byId(b2, id, m)).metadata.opened).toBe(false);
    // The sender's devices hear of it, with who and which device.
    const viewed = changesOf("message_viewed", m);
    expect(viewed).toHaveLength(1);
    expect(viewed[0]).toMatchObject({ device_id: b1.deviceId });
    expect(viewed[0]!.type === "message_viewed" && viewed[0]!.user_id.toHexString()).toBe(b1.userId);
    expect(devicesNamed(viewed[0]!)).toEqual([`${a.userId}:${a.deviceId}`]);

    // A second session of the same device (a fresh login) cannot open it again.
    const again = await addDevice(h, b1, b1.deviceId);
    const second = await open(again, m);
    expect(second.status).toBe(410);
    expect(second.body.code).toBe("VIEW_ONCE_OPENED");
    expect(await h.raw("messages").findOne({ _id: new ObjectId(m) })).toMatchObject({ deleted: false });

    // The other device opens it: nobody is left to, so the ciphertext goes and a tombstone stays.
    expect((await open(b2, m)).status).toBe(200);
    const stored = await h.raw("messages").findOne({ _id: new ObjectId(m) });
    expect(stored).toMatchObject({ deleted: true, encrypted_content: null });
    expect(await h.raw("message_keys").countDocuments({ message_id: new ObjectId(m) })).toBe(0);
    expect((await byId(b2, id, m)).is_deleted).toBe(true);
    expect((await open(b2, m)).status).toBe(410);
  });

  it("tells the sender nothing when the viewer turned read receipts off; refuses the sender and other messages", async () => {
    const a = await newAccount(h);
    const b = await newAccount(h);
    await api(b, "PATCH", "/users/me", { privacy: { read_receipts: false } });
    const id = await direct(h, a, b);
    const m = (await send(h, a, id, "quiet", { view_once: true })).res.body.id as string;
    expect((await open(b, m)).status).toBe(200);
    expect(changesOf("message_viewed", m)).toHaveLength(0);
    const own = await open(a, m);
    expect(own.status).toBe(409);
    const plain = (await send(h, a, id, "plain")).res.body.id as string;
    expect((await open(b, plain)).body.code).toBe("INVALID_STATE");
    const edit = await api(a, "PUT", `/messages/${m}`, { encrypted_content: "AAAA", recipient_keys: [] });
    expect(edit.status).toBe(409);
  });

  it("after the cap, the ciphertext and unopened keys go, opened or not", async () => {
    const a = await newAccount(h);
    const b = await newAccount(h);
    const id = await direct(h, a, b);
    const m = (await send(h, a, id, "never opened", { view_once: true })).res.body.id as string;
    h.clock.advance(14 * 86_400 - 10);
    await sweepOnce(h.deps);
    expect(await h.raw("messages").findOne({ _id: new ObjectId(m) })).toMatchObject({ deleted: false });
    h.clock.advance(11);
    await sweepOnce(h.deps);
    expect(await h.raw("messages").findOne({ _id: new ObjectId(m) })).toMatchObject({
      deleted: true,
      encrypted_content: null,
    });
    expect(await h.raw("message_keys").countDocuments({ message_id: new ObjectId(m) })).toBe(0);
    // The tombstone stays for its retention (offline devices learn of it), then goes too.
    h.clock.advance(30 * 86_400);
    await sweepOnce(h.deps);
    expect(await h.raw("messages").countDocuments({ _id: new ObjectId(m) })).toBe(0);
    expect(changesOf("message_expired", m)).toHaveLength(1);
  });
});

describe("disappearing messages", () => {
  it("leave every read once expired, before the job runs; the job erases them and tells every device", async () => {
    const a = await newAccount(h);
    const b1 = await newAccount(h);
    const b2 = await addDevice(h, b1);
    const id = await direct(h, a, b1);
    const keep = (await send(h, a, id, "stays")).res.body.id as string;
    const gone = await send(h, a, id, "goes", { ttl_seconds: 30, encrypted_preview: "cHJldmlldw==" });
    expect(gone.res.status).toBe(201);
    const m = gone.res.body.id as string;
    expect(gone.res.body.metadata).toMatchObject({ is_ephemeral: true, ttl_seconds: 30 });
    expect(new Date(gone.res.body.metadata.expires_at).getTime()).toBe(h.clock.now().getTime() + 30_000);
    await api(b1, "POST", `/messages/${m}/read`); // read by b, so only the unread of others matters
    const third = (await send(h, a, id, "also goes", { ttl_seconds: 30 })).res.body.id as string;
    expect((await api(b1, "GET", `/conversations/${id}`)).body.unread_count).toBe(2);

    h.clock.advance(30);
    // Not yet erased, already invisible: history, the message itself, the conversation's last message.
    expect(await h.raw("messages").countDocuments({ _id: new ObjectId(m) })).toBe(1);
    const page = (await history(h, b1, id)).body;
    expect(page.messages.map((x: { id: string }) => x.id)).toEqual([keep]);
    expect((await api(b1, "POST", `/messages/${third}/read`)).status).toBe(404);
    expect((await api(b1, "GET", `/conversations/${id}`)).body.last_message).toBeNull();

    const erased = await sweepOnce(h.deps);
    expect(erased).toBeGreaterThanOrEqual(2);
    for (const x of [m, third]) {
      const _id = new ObjectId(x);
      expect(await h.raw("messages").countDocuments({ _id })).toBe(0);
      expect(await h.raw("message_keys").countDocuments({ message_id: _id })).toBe(0);
      expect(await h.raw("receipts").countDocuments({ message_id: _id })).toBe(0);
      expect(await h.raw("message_marks").countDocuments({ message_id: _id })).toBe(0);
      const events = changesOf("message_expired", x);
      expect(events).toHaveLength(1);
      expect(devicesNamed(events[0]!)).toEqual(
        [`${a.userId}:${a.deviceId}`, `${b1.userId}:${b1.deviceId}`, `${b1.userId}:${b2.deviceId}`].sort(),
      );
    }
    const after = (await api(b1, "GET", `/conversations/${id}`)).body;
    expect(after.last_message.message_id).toBe(keep);
    expect(after.unread_count).toBe(1); // "stays" only
    expect((await history(h, b1, id)).body.total).toBe(1);
    expect((await history(h, a, id)).body.total).toBe(1);
    const metrics = h.deps.metrics.render();
    expect(metrics).toMatch(/expiry_erased_total\{job="expire:messages",collection="messages"\} [1-9]/);
    expect(await sweepOnce(h.deps)).toBe(0); // nothing twice
  });

  it("take the conversation's timer when they set none; members set it in a 1:1, admins in a group", async () => {
    const a = await newAccount(h);
    const b = await newAccount(h);
    const c = await newAccount(h);
    const id = await direct(h, a, b);
    const before = h.changes.length;
    const set = await api(b, "PATCH", `/conversations/${id}`, { ttl_seconds: 60 });
    expect(set.status).toBe(200);
    expect(set.body.ttl_seconds).toBe(60);
    const updated = h.changes.slice(before).filter((x) => x.type === "conversation_updated");
    expect(updated).toHaveLength(1);
    expect(updated[0]).toMatchObject({ reason: "timer_changed" });
    expect((await api(b, "PATCH", `/conversations/${id}`, { name: "x" })).status).toBe(409);
    expect((await api(b, "PATCH", `/conversations/${id}`, { ttl_seconds: 4 })).body.fields).toHaveProperty(
      "ttl_seconds",
    );

    const timed = (await send(h, a, id, "timed")).res.body;
    expect(timed.metadata).toMatchObject({ ttl_seconds: 60, is_ephemeral: true });
    const own = (await send(h, a, id, "own timer", { ttl_seconds: 3600 })).res.body;
    expect(own.metadata.ttl_seconds).toBe(3600);
    h.clock.advance(61);
    const ids = (await history(h, b, id)).body.messages.map((x: { id: string }) => x.id);
    expect(ids).toEqual([own.id]);
    expect(
      (await api(a, "PATCH", `/conversations/${id}`, { ttl_seconds: null })).body.ttl_seconds,
    ).toBeNull();
    expect((await send(h, a, id, "lasting")).res.body.metadata.expires_at).toBeNull();
    // 0 turns it off too: the form a client whose JSON library drops nulls (Gson) can send.
    expect((await api(a, "PATCH", `/conversations/${id}`, { ttl_seconds: 30 })).body.ttl_seconds).toBe(30);
    const off = await api(a, "PATCH", `/conversations/${id}`, { ttl_seconds: 0 });
    expect(off.status).toBe(200);
    expect(off.body.ttl_seconds).toBeNull();
    expect((await send(h, a, id, "lasting again")).res.body.metadata.expires_at).toBeNull();
    expect((await api(a, "PATCH", `/conversations/${id}`, { ttl_seconds: 1 })).body.fields).toHaveProperty(
      "ttl_seconds",
    );

    const g = await group(h, a, [b, c]);
    expect((await api(b, "PATCH", `/conversations/${g}`, { ttl_seconds: 60 })).status).toBe(403);
    expect((await api(a, "PATCH", `/conversations/${g}`, { ttl_seconds: 60 })).status).toBe(200);
  });

  it("bound ttl_seconds as the spec says", async () => {
    const a = await newAccount(h);
    const b = await newAccount(h);
    const id = await direct(h, a, b);
    for (const ttl of [4, 90 * 86_400 + 1, 1.5]) {
      const res = (await send(h, a, id, "x", { ttl_seconds: ttl })).res;
      expect(res.status).toBe(400);
      expect(res.body.fields).toHaveProperty("ttl_seconds");
    }
    expect((await send(h, a, id, "x", { ttl_seconds: 5 })).res.status).toBe(201);
  });

  it("keep counts exact for a member who joined later and one who hid the message", async () => {
    const a = await newAccount(h);
    const b = await newAccount(h);
    const c = await newAccount(h);
    const g = await group(h, a, [b]);
    const hidden = (await send(h, a, g, "hide me", { ttl_seconds: 10 })).res.body.id as string;
    await api(b, "DELETE", `/messages/${hidden}`, { delete_for_everyone: false });
    await send(h, a, g, "before c", { ttl_seconds: 10 });
    await api(a, "POST", `/conversations/${g}/members`, { user_id: c.userId });
    const after = (await send(h, a, g, "after c")).res.body.id as string;
    h.clock.advance(10);
    await sweepOnce(h.deps);
    for (const d of [a, b, c]) {
      const page = (await history(h, d, g)).body;
      expect(page.messages.map((x: { id: string }) => x.id)).toEqual([after]);
      expect(page.total).toBe(1);
    }
    expect((await api(b, "GET", `/conversations/${g}`)).body.unread_count).toBe(1);
    expect((await api(c, "GET", `/conversations/${g}`)).body.unread_count).toBe(1);
  });
});

/* The same, through the real streams: REST sync and `ws` sockets, as devices receive it. */

type Entry = { type: string; position: number; data: any };
const sync = async (d: Device, since = 0): Promise<{ entries: Entry[]; position: number }> => {
  const res = await api(d, "GET", `/sync?since=${since}&limit=500`);
  expect(res.status).toBe(200);
  return res.body;
};
const socketOf = async (d: Device, on: Hush = h) => (await connect(on, d.token)).client;
/** Everything a socket got so far: a pong comes after anything queued before the ping. */
async function settled(c: Client) {
  await c.ask({ type: "ping" }, "pong");
  return c.received as Entry[];
}
const naming = (entries: Entry[], m: string) =>
  entries.filter((e) => e.data?.message_id === m || e.data?.message?.id === m);

describe("ephemeral messages through the stream", () => {
  it("message_expired reaches a connected device live and an offline one through sync, once each", async () => {
    const a = await newAccount(h);
    const b = await newAccount(h);
    const bOffline = await addDevice(h, b);
    const id = await direct(h, a, b);
    const live = await socketOf(b);
    const m = (await send(h, a, id, "gone soon", { ttl_seconds: 5 })).res.body.id as string;
    const arrived = await live.next("new_message");
    expect(arrived.data.message.id).toBe(m);

    h.clock.advance(5);
    await sweepOnce(h.deps);
    const expired = await live.next("message_expired");
    expect(expired.data).toEqual({ message_id: m, conversation_id: id });
    expect(expired.position).toBeGreaterThan(arrived.position);
    // The offline device, syncing later over REST and over its own socket, finds the same: the
    // copy emptied in place (its position kept), then the expiry, once.
    const page = await sync(bOffline);
    const mine = naming(page.entries, m);
    expect(mine.map((e) => e.type)).toEqual(["message_expired"]);
    expect(mine[0]!.data).toEqual({ message_id: m, conversation_id: id });
    const positions = page.entries.map((e) => e.position);
    expect(positions).toEqual(Array.from({ length: positions.length }, (_, i) => positions[0]! + i));
    expect(page.entries.some((e) => e.type === "erased")).toBe(true);
    const later = await socketOf(bOffline);
    const viaSocket = await later.ask({ type: "sync", data: { since: 0 } }, "sync_result");
    expect(viaSocket.data).toEqual(page);
    // The sender's own device is a member device too.
    expect(naming((await sync(a)).entries, m).map((e) => e.type)).toEqual(["message_expired"]);
    expect(naming(await settled(live), m)).toHaveLength(0); // nothing more after the one event
    await live.close();
    await later.close();
  });

  it("an expired message leaves sync, socket sync, history, replays and the list before the job runs", async () => {
    const a = await newAccount(h);
    const aLaptop = await addDevice(h, a);
    const b = await newAccount(h);
    const id = await direct(h, a, b);
    const keep = (await send(h, a, id, "stays")).res.body.id as string;
    const timed = await send(h, a, id, "first", { ttl_seconds: 60, client_message_id: "eph-replay-1" });
    const m = timed.res.body.id as string;
    const edit = await api(a, "PUT", `/messages/${m}`, wire("edited", await devicesIn(h, a, id)));
    expect(edit.status).toBe(200);
    const before = await sync(b);
    expect(naming(before.entries, m).map((e) => e.type)).toEqual(["new_message", "message_edited"]);
    expect(decrypt(b, naming(before.entries, m)[1]!.data.message)).toBe("edited");

    h.clock.advance(60);
    expect(await h.raw("messages").countDocuments({ _id: new ObjectId(m) })).toBe(1); // the job has not run
    const leak = timed.sealed.encrypted_content;
    for (const d of [b, aLaptop]) {
      const after = await sync(d);
      // Same positions, same newest position; the copies are `erased`, no ciphertext anywhere.
      expect(after.entries.map((e) => e.position)).toEqual(
        before.entries.map((e) => e.position).slice(0, after.entries.length),
      );
      expect(naming(after.entries, m)).toEqual([]);
      expect(JSON.stringify(after)).not.toContain(leak);
      const socket = await socketOf(d);
      const page = await socket.ask({ type: "sync", data: { since: 0 } }, "sync_result");
      expect(page.data).toEqual(after);
      await socket.close();
    }
    const erasedAt = naming(before.entries, m).map((e) => e.position);
    const now = new Map((await sync(b)).entries.map((e) => [e.position, e.type]));
    expect(erasedAt.map((p) => now.get(p))).toEqual(["erased", "erased"]);

    expect((await history(h, b, id)).body.messages.map((x: { id: string }) => x.id)).toEqual([keep]);
    expect((await api(b, "GET", `/conversations/${id}`)).body.last_message).toBeNull();
    for (const route of ["read", "delivered", "open"]) {
      expect((await api(b, "POST", `/messages/${m}/${route}`)).status).toBe(404);
    }
    // A retry of the send with its client_message_id no longer hands the message back.
    const replay = await api(a, "POST", "/messages", {
      conversation_id: id,
      encrypted_content: timed.sealed.encrypted_content,
      recipient_keys: timed.sealed.recipient_keys,
      client_message_id: "eph-replay-1",
    });
    expect(replay.status).toBe(409);
    expect(JSON.stringify(replay.body)).not.toContain(leak);
  });

  it("a socket delivering a copy after its expiry delivers it erased, at its position", async () => {
    // A second process whose clock is already past the message's expiry: the entry written on the
    // first process reaches the socket on the second (through the feed) only after it expired.
    const other = await startHush(env, { dbName });
    try {
      other.clock.advance((h.clock.now().getTime() - other.clock.now().getTime()) / 1000 + 10);
      const a = await newAccount(h);
      const b = await newAccount(h);
      const id = await direct(h, a, b);
      const late = await socketOf(b, other);
      const fresh = await socketOf(b);
      const m = (await send(h, a, id, "brief", { ttl_seconds: 5 })).res.body.id as string;
      const onTime = await fresh.next("new_message");
      expect(onTime.data.message.id).toBe(m);
      const gone = await late.next("erased");
      expect(gone).toEqual({ type: "erased", position: onTime.position, data: {} });
      expect(naming(await settled(late), m)).toEqual([]);
      await late.close();
      await fresh.close();
    } finally {
      await other.close();
    }
  });

  it("view-once: copies without recipients' keys, opened marked per device, message_viewed to the sender's devices", async () => {
    const a = await newAccount(h);
    const aLaptop = await addDevice(h, a);
    const b1 = await newAccount(h);
    const b2 = await addDevice(h, b1);
    const id = await direct(h, a, b1);
    const aLive = await socketOf(aLaptop);
    const bLive = await socketOf(b1);
    const sent = await send(h, a, id, "once", { view_once: true });
    const m = sent.res.body.id as string;

    const got = await bLive.next("new_message");
    expect(got.data.message).toMatchObject({ id: m, recipient_keys: [] });
    expect(got.data.message.metadata).toMatchObject({ view_once: true, opened: false });
    const [offline] = naming((await sync(b2)).entries, m);
    expect(offline!.data.message).toMatchObject({ recipient_keys: [], metadata: { opened: false } });
    // The sender's other device gets its own key, as for any message, and nothing to open.
    const own = await aLive.next("new_message");
    expect(own.data.message.metadata.opened).toBeNull();
    expect(decrypt(aLaptop, own.data.message as any)).toBe("once");

    expect((await open(b1, m)).status).toBe(200);
    const viewed = await aLive.next("message_viewed");
    expect(viewed.data).toMatchObject({
      message_id: m,
      conversation_id: id,
      user_id: b1.userId,
      device_id: b1.deviceId,
    });
    // The sender's first device, offline, finds it in sync; the viewer's devices get none.
    expect(naming((await sync(a)).entries, m).map((e) => e.type)).toEqual(["message_viewed"]);
    expect(naming((await sync(b2)).entries, m).map((e) => e.type)).toEqual(["new_message"]);
    // Opened for the device that opened it, in sync as in history; not for the other device.
    expect(naming((await sync(b1)).entries, m)[0]!.data.message.metadata.opened).toBe(true);
    expect(naming((await sync(b2)).entries, m)[0]!.data.message.metadata.opened).toBe(false);
    expect((await byId(b1, id, m)).metadata.opened).toBe(true);
    expect((await byId(b2, id, m)).metadata.opened).toBe(false);

    // The last open erases the ciphertext: its copies in every stream go too; the views stay.
    expect((await open(b2, m)).status).toBe(200);
    expect((await aLive.next("message_viewed")).data.device_id).toBe(b2.deviceId);
    for (const d of [a, aLaptop, b1, b2]) {
      const page = await sync(d);
      expect(JSON.stringify(page)).not.toContain(sent.sealed.encrypted_content);
      expect(naming(page.entries, m).every((e) => e.type === "message_viewed")).toBe(true);
    }
    await aLive.close();
    await bLive.close();
  });

  it("message_viewed is no stream entry when the viewer turned read receipts off", async () => {
    const a = await newAccount(h);
    const b = await newAccount(h);
    await api(b, "PATCH", "/users/me", { privacy: { read_receipts: false } });
    const id = await direct(h, a, b);
    const aLive = await socketOf(a);
    const m = (await send(h, a, id, "quiet", { view_once: true })).res.body.id as string;
    expect((await open(b, m)).status).toBe(200);
    expect(naming(await settled(aLive), m)).toEqual([]);
    expect(naming((await sync(a)).entries, m)).toEqual([]);
    await aLive.close();
  });
});
