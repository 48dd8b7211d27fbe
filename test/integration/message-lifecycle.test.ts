import { ObjectId } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  addDevice,
  type Device,
  decrypt,
  devicesIn,
  direct,
  encrypt,
  group,
  history,
  newAccount,
  send,
  wire,
} from "../helpers/e2e.js";
import { type Hush, startHush } from "../helpers/hush.js";

let h: Hush;
beforeAll(async () => {
  // Access tokens outlive the edit and delete windows the clock is moved across.
  h = await startHush({ ACCESS_TOKEN_TTL: "86400" });
});
afterAll(() => h?.close());

const api = (d: Device, method: string, path: string, body?: unknown) =>
  h.req(method, `/api/v1${path}`, { token: d.token, body });
const conversation = async (d: Device, id: string) => (await api(d, "GET", `/conversations/${id}`)).body;
const read = (d: Device, m: string) => api(d, "POST", `/messages/${m}/read`);
const remove = (d: Device, m: string, everyone: boolean) =>
  api(d, "DELETE", `/messages/${m}`, { delete_for_everyone: everyone });
const byId = async (d: Device, id: string, m: string) =>
  (await history(h, d, id, "?limit=100")).body.messages.find((x: { id: string }) => x.id === m);
const ids = (page: { messages: { id: string }[] }) => page.messages.map((m) => m.id);

describe("receipts", () => {
  it("records delivery per device and reading per user, shown to the sender only", async () => {
    const a = await newAccount(h);
    const b1 = await newAccount(h);
    const b2 = await addDevice(h, b1);
    const id = await direct(h, a, b1);
    const m = (await send(h, a, id, "hello")).res.body.id;
    expect((await conversation(b1, id)).unread_count).toBe(1);

    for (const d of [b1, b2, b2]) {
      const res = await api(d, "POST", `/messages/${m}/delivered`);
      expect(res.status).toBe(200);
    }
    expect((await read(b2, m)).status).toBe(200);
    expect((await read(b1, m)).status).toBe(200);

    const seen = await byId(a, id, m);
    expect(seen.status.delivered_to).toHaveLength(2);
    expect(seen.status.delivered_to.map((r: { device_id: string }) => r.device_id).sort()).toEqual(
      [b1.deviceId, b2.deviceId].sort(),
    );
    expect(seen.status.read_by).toEqual([{ user_id: b1.userId, timestamp: expect.any(String) }]);
    // The reader sees no receipts on someone else's message.
    expect((await byId(b1, id, m)).status).toMatchObject({ delivered_to: [], read_by: [] });
    expect((await conversation(b1, id)).unread_count).toBe(0);
    // Reading your own message changes nothing.
    expect((await read(a, m)).status).toBe(200);
    expect((await byId(a, id, m)).status.read_by).toHaveLength(1);
  });

  it("a reader with read_receipts off clears their unread count without appearing in read_by", async () => {
    const [a, b] = [await newAccount(h), await newAccount(h)];
    await api(b, "PATCH", "/users/me", { privacy: { read_receipts: false } });
    const id = await direct(h, a, b);
    const m1 = (await send(h, a, id, "one")).res.body.id;
    const m2 = (await send(h, a, id, "two")).res.body.id;
    expect((await conversation(b, id)).unread_count).toBe(2);
    const batch = await api(b, "POST", "/messages/read", {
      message_ids: [m1, m2, m1, "0123456789abcdef01234567"],
    });
    expect(batch.body).toEqual({ message: "Messages marked as read", marked_count: 2 });
    expect((await conversation(b, id)).unread_count).toBe(0);
    expect((await byId(a, id, m1)).status.read_by).toEqual([]);
    expect((await byId(a, id, m2)).status.read_by).toEqual([]);
  });
});

describe("unread counts, last_message and total under concurrency", () => {
  it("stay exact while sends, reads, batch reads and deletions race", async () => {
    const [a, b] = [await newAccount(h), await newAccount(h)];
    const id = await direct(h, a, b);
    const toA = await devicesIn(h, b, id);
    const toB = await devicesIn(h, a, id);
    const post = (from: Device, to: typeof toA, text: string) =>
      api(from, "POST", "/messages", { conversation_id: id, ...wire(text, to) });

    const first = await Promise.all(Array.from({ length: 10 }, (_, i) => post(b, toA, `b${i}`)));
    expect(first.every((r) => r.status === 201)).toBe(true);
    const early = first.map((r) => r.body.id as string);
    expect((await conversation(a, id)).unread_count).toBe(10);

    const racing = await Promise.all([
      ...Array.from({ length: 15 }, (_, i) => post(b, toA, `late${i}`)),
      ...Array.from({ length: 5 }, (_, i) => post(a, toB, `a${i}`)),
      ...early.flatMap((m) => [read(a, m), read(a, m)]),
      api(a, "POST", "/messages/read", { message_ids: early }),
      ...early.slice(0, 3).map((m) => remove(a, m, false)),
    ]);
    expect(racing.every((r) => r.status < 300)).toBe(true);

    const mine = await conversation(a, id);
    expect(mine.unread_count).toBe(15);
    expect((await conversation(b, id)).unread_count).toBe(5);
    const page = await history(h, a, id, "?limit=100");
    expect(page.body.total).toBe(30 - 3);
    expect(page.body.messages).toHaveLength(27);
    expect((await history(h, b, id, "?limit=100")).body.total).toBe(30);
    // last_message is the highest position, whichever send finished last.
    const newest = page.body.messages.at(-1);
    expect(mine.last_message.message_id).toBe(newest.id);
    for (const m of early.slice(3)) {
      expect((await byId(b, id, m)).status.read_by).toEqual([
        { user_id: a.userId, timestamp: expect.any(String) },
      ]);
    }
  });
});

describe("editing", () => {
  it("replaces ciphertext and every key within 15 minutes, for the sender only", async () => {
    const [a, b] = [await newAccount(h), await newAccount(h)];
    const id = await direct(h, a, b);
    const { res, recipients } = await send(h, a, id, "frist");
    const m = res.body.id;
    const edit = (d: Device, body: unknown) => api(d, "PUT", `/messages/${m}`, body);

    const preview = Buffer.from("first!").toString("base64");
    const fixed = encrypt("first", recipients);
    const ok = await edit(a, {
      encrypted_content: fixed.encrypted_content,
      recipient_keys: fixed.recipient_keys,
      encrypted_preview: preview,
    });
    expect(ok.status).toBe(200);
    expect(ok.body.edited_at).toEqual(expect.any(String));
    expect(decrypt(b, await byId(b, id, m))).toBe("first");
    expect((await conversation(b, id)).last_message.encrypted_preview).toBe(preview);
    const keys = (await h.raw("message_keys").find().toArray()).filter(
      (k) => k.message_id.toHexString() === m,
    );
    expect(keys).toHaveLength(1);
    expect(keys[0]!.encrypted_key).toBe(fixed.recipient_keys[0]!.encrypted_key);

    expect((await edit(b, wire("mine now", recipients))).status).toBe(403);
    const mismatch = await edit(a, wire("x", []));
    expect(mismatch.status).toBe(409);
    expect(mismatch.body.code).toBe("DEVICE_MISMATCH");
    h.clock.advance(15 * 60 + 1);
    const late = await edit(a, wire("too late", recipients));
    expect(late.status).toBe(409);
    expect(late.body.code).toBe("INVALID_STATE");
    expect(decrypt(b, await byId(b, id, m))).toBe("first");
  });
});

describe("deleting", () => {
  it("for everyone: the sender, within an hour, leaves a tombstone and nothing readable in storage", async () => {
    const [a, b] = [await newAccount(h), await newAccount(h)];
    const id = await direct(h, a, b);
    const preview = Buffer.from("secret preview").toString("base64");
    const { res, sealed } = await send(h, a, id, "regrettable", { encrypted_preview: preview });
    const m = res.body.id;
    expect((await conversation(b, id)).unread_count).toBe(1);

    expect((await remove(b, m, true)).status).toBe(403);
    const done = await remove(a, m, true);
    expect(done.status).toBe(200);
    expect(done.body.message).toBe("Message deleted for everyone");
    expect((await remove(a, m, true)).status).toBe(200); // idempotent

    for (const d of [a, b]) {
      expect(await byId(d, id, m)).toMatchObject({
        is_deleted: true,
        encrypted_content: null,
        recipient_keys: [],
      });
    }
    const stored = await h.raw("messages").findOne({ _id: new ObjectId(m) });
    expect(stored).toMatchObject({ deleted: true, encrypted_content: null, encrypted_preview: null });
    const keys = (await h.raw("message_keys").find().toArray()).filter(
      (k) => k.message_id.toHexString() === m,
    );
    expect(keys).toEqual([]);
    const everything = JSON.stringify(
      await Promise.all(["messages", "message_keys", "conversations"].map((c) => h.raw(c).find().toArray())),
    );
    expect(everything).not.toContain(sealed.encrypted_content);
    expect(everything).not.toContain(preview);
    expect((await conversation(b, id)).unread_count).toBe(0);
    expect((await conversation(b, id)).last_message).toMatchObject({
      message_id: m,
      encrypted_preview: null,
    });
  });

  it("for everyone closes after an hour; for me works on any message, for me only", async () => {
    const [a, b] = [await newAccount(h), await newAccount(h)];
    const id = await direct(h, a, b);
    const m = (await send(h, a, id, "old news")).res.body.id;
    h.clock.advance(3600 + 1);
    const late = await remove(a, m, true);
    expect(late.status).toBe(409);
    expect(late.body.code).toBe("INVALID_STATE");

    const mine = await api(b, "DELETE", `/messages/${m}`);
    expect(mine.status).toBe(200);
    expect(mine.body.message).toBe("Message deleted for you");
    expect(ids((await history(h, b, id)).body)).toEqual([]);
    expect((await history(h, b, id)).body.total).toBe(0);
    expect((await conversation(b, id)).unread_count).toBe(0);
    expect(ids((await history(h, a, id)).body)).toEqual([m]);
    // Gone for b: every other action on it is a 404 now.
    expect((await read(b, m)).status).toBe(404);
    expect((await api(b, "DELETE", `/messages/${m}`)).status).toBe(404);
  });

  it("for me: a member's pages read their marks once they hid one, and on memberships older than that flag", async () => {
    const [a, b] = [await newAccount(h), await newAccount(h)];
    const id = await direct(h, a, b);
    const one = (await send(h, a, id, "one")).res.body.id;
    const two = (await send(h, a, id, "two")).res.body.id;
    const members = h.raw("conversation_members");
    const of = (d: Device) => ({ conversation_id: new ObjectId(id), user_id: new ObjectId(d.userId) });
    expect((await members.findOne(of(b)))?.hides).toBe(false);
    expect((await remove(b, one, false)).status).toBe(200);
    expect((await members.findOne(of(b)))?.hides).toBe(true);
    expect(ids((await history(h, b, id)).body)).toEqual([two]);
    // A membership from before the flag existed has none: its marks are read.
    await members.updateOne(of(b), { $unset: { hides: "" } });
    expect(ids((await history(h, b, id)).body)).toEqual([two]);
    expect(ids((await history(h, b, id, `?before=${two}`)).body)).toEqual([]);
    // The flag without a mark (a crash between the two writes) hides nothing.
    await members.updateOne(of(a), { $set: { hides: true } });
    expect(ids((await history(h, a, id)).body)).toEqual([one, two]);
  });
});

describe("account deletion", () => {
  it("keeps the deleted account's messages for the others, under a null sender, and cleans up its conversations", async () => {
    const [a, b, c] = [await newAccount(h), await newAccount(h), await newAccount(h)];
    const ab = await direct(h, a, b);
    const g = await group(h, a, [b, c]);
    const solo = await group(h, a, [c]);
    await api(c, "POST", `/conversations/${solo}/leave`);
    const inDirect = (await send(h, a, ab, "from a, 1:1")).res.body.id;
    const inGroup = (await send(h, a, g, "from a, group")).res.body.id;

    expect((await api(a, "DELETE", "/users/me")).status).toBe(204);

    const direct1 = await conversation(b, ab);
    expect(direct1).toMatchObject({ participants: [], member_count: 1 });
    const kept = await byId(b, ab, inDirect);
    expect(kept).toMatchObject({ sender_id: null, sender_device_id: null });
    expect(decrypt(b, kept)).toBe("from a, 1:1");
    const refused = await api(b, "POST", "/messages", { conversation_id: ab, ...wire("anyone?", []) });
    expect(refused.status).toBe(409);

    const g1 = await conversation(b, g);
    expect(g1.member_count).toBe(2);
    // One of the two longest-standing members (b and c joined at the same instant) took a's place.
    const roles = [g1.role, (await conversation(c, g)).role].sort();
    expect(roles).toEqual(["admin", "member"]);
    expect(decrypt(c, await byId(c, g, inGroup))).toBe("from a, group");
    expect((await byId(c, g, inGroup)).sender_id).toBeNull();

    // The group only a was left in is gone with everything in it.
    expect(await h.raw("conversations").countDocuments({ pair_key: `group:${solo}` })).toBe(0);
    const mention = JSON.stringify(
      await Promise.all(
        [
          "conversations",
          "conversation_members",
          "messages",
          "message_keys",
          "receipts",
          "message_marks",
        ].map((n) => h.raw(n).find().toArray()),
      ),
    );
    expect(mention).not.toContain(a.userId);
  });
});
