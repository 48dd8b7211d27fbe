import { ObjectId } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Change } from "../../src/changes/record.js";
import { sweepOnce } from "../../src/jobs/jobs.js";
import { addDevice, type Device, direct, group, history, newAccount, send, unwrap } from "../helpers/e2e.js";
import { type Hush, startHush } from "../helpers/hush.js";

let h: Hush;
beforeAll(async () => {
  // Access tokens outlive the timers the clock is moved across.
  h = await startHush({ ACCESS_TOKEN_TTL: "86400" });
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
