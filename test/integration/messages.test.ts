import { BSON, ObjectId } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sweepOnce } from "../../src/jobs/jobs.js";
import {
  addDevice,
  type Device,
  decrypt,
  direct,
  encrypt,
  group,
  history,
  newAccount,
  recipientsOf,
  send,
  wire,
} from "../helpers/e2e.js";
import { type Hush, logIn, newDeviceKey, startHush } from "../helpers/hush.js";

let h: Hush;
beforeAll(async () => {
  h = await startHush();
});
afterAll(() => h?.close());

const post = (d: Device, body: unknown) => h.req("POST", "/api/v1/messages", { token: d.token, body });

/** Every stored document of every collection, as text. */
async function everything() {
  const out: string[] = [];
  for (const { name } of await h.deps.store.db.listCollections().toArray()) {
    for (const doc of await h.raw(name).find().toArray()) out.push(`${name}: ${BSON.EJSON.stringify(doc)}`);
  }
  return out.join("\n");
}
/** The ways a secret could be spelled in storage: raw UTF-8, hex, base64. */
const spellings = (bytes: Uint8Array) => {
  const buf = Buffer.from(bytes);
  return [buf.toString("hex"), buf.toString("base64"), buf.toString("base64url").slice(0, 40)];
};

describe("end-to-end encrypted messages", () => {
  it("each device decrypts its own copy, and storage holds neither the plaintext nor the message key", async () => {
    const a1 = await newAccount(h);
    const a2 = await addDevice(h, a1);
    const b1 = await newAccount(h);
    const b2 = await addDevice(h, b1);
    const id = await direct(h, a1, b1);
    const text = `meet me at the lighthouse ${Date.now()}`;
    const { res, sealed, recipients } = await send(h, a1, id, text);
    expect(res.status).toBe(201);
    expect(recipients.map((r) => `${r.user_id}:${r.device_id}`).sort()).toEqual(
      [`${a1.userId}:${a2.deviceId}`, `${b1.userId}:${b1.deviceId}`, `${b1.userId}:${b2.deviceId}`].sort(),
    );
    expect(res.body).toMatchObject({
      conversation_id: id,
      sender_id: a1.userId,
      sender_device_id: a1.deviceId,
      encrypted_content: sealed.encrypted_content,
      content_type: "text",
      recipient_keys: [], // the sending device wrapped nothing for itself
      is_deleted: false,
      edited_at: null,
      status: { delivered_to: [], read_by: [] },
    });

    for (const reader of [a2, b1, b2]) {
      const page = await history(h, reader, id);
      expect(page.status).toBe(200);
      const [m] = page.body.messages;
      expect(decrypt(reader, m)).toBe(text); // its own key entry, and only that one
    }
    expect((await history(h, a1, id)).body.messages[0].recipient_keys).toEqual([]);

    const stored = await everything();
    expect(stored).toContain(sealed.encrypted_content);
    for (const secret of [
      ...spellings(new TextEncoder().encode(text)),
      text,
      ...spellings(sealed.messageKey),
    ]) {
      expect(stored).not.toContain(secret);
    }
    const keys = await h.raw("message_keys").find({}).toArray();
    expect(keys.filter((k) => k.message_id.toHexString() === res.body.id)).toHaveLength(3);
  });

  it("a sending device that names itself gets its own key back, in the answer and in history", async () => {
    const [a, b] = [await newAccount(h), await newAccount(h)];
    const id = await direct(h, a, b);
    const self = { user_id: a.userId, device_id: a.deviceId, identity_key: "" };
    const devices = await h.req("GET", `/api/v1/users/${a.userId}/devices`, { token: a.token });
    self.identity_key = devices.body.devices[0].identity_key;
    const sealed = encrypt("note to self", [...(await recipientsOf(h, a, [b.userId])), self]);
    const res = await post(a, {
      conversation_id: id,
      encrypted_content: sealed.encrypted_content,
      recipient_keys: sealed.recipient_keys,
    });
    expect(res.status).toBe(201);
    expect(decrypt(a, res.body)).toBe("note to self");
    expect(decrypt(a, (await history(h, a, id)).body.messages[0])).toBe("note to self");
  });
});

describe("the device-list check", () => {
  it("names missing and extra devices, and the retry with the right list succeeds", async () => {
    const a1 = await newAccount(h);
    const a2 = await addDevice(h, a1);
    const b1 = await newAccount(h);
    const b2 = await addDevice(h, b1);
    const outsider = await newAccount(h);
    const id = await direct(h, a1, b1);
    const all = await recipientsOf(h, a1, [a1.userId, b1.userId]);
    const [outsiderDevice] = await recipientsOf(h, a1, [outsider.userId]);
    const ghost = { user_id: b1.userId, device_id: "ghost", identity_key: all[0]!.identity_key };
    const attempt = (list: typeof all) => post(a1, { conversation_id: id, ...wire("hi", list) });
    const ref = (d: Device) => ({ user_id: d.userId, device_id: d.deviceId });

    const missing = await attempt(all.filter((r) => r.device_id !== b2.deviceId));
    expect(missing.status).toBe(409);
    expect(missing.body).toMatchObject({
      code: "DEVICE_MISMATCH",
      missing_devices: [ref(b2)],
      extra_devices: [],
    });

    const extra = await attempt([...all, ghost, outsiderDevice!]);
    expect(extra.status).toBe(409);
    expect(extra.body.missing_devices).toEqual([]);
    expect(extra.body.extra_devices).toEqual(
      expect.arrayContaining([
        { user_id: b1.userId, device_id: "ghost" },
        { user_id: outsider.userId, device_id: outsider.deviceId },
      ]),
    );

    const both = await attempt([...all.filter((r) => r.device_id !== a2.deviceId), ghost]);
    expect(both.status).toBe(409);
    expect(both.body.missing_devices).toEqual([ref(a2)]);
    expect(both.body.extra_devices).toEqual([{ user_id: b1.userId, device_id: "ghost" }]);

    // A device added after the sender fetched the list is missing; fetching again fixes it.
    const b3 = await addDevice(h, b1);
    const stale = await attempt(all);
    expect(stale.body.missing_devices).toEqual([ref(b3)]);
    const retry = await attempt(await recipientsOf(h, a1, [a1.userId, b1.userId]));
    expect(retry.status).toBe(201);
    // A removed device is extra until the list is fetched again.
    expect((await h.req("DELETE", `/api/v1/devices/${b3.deviceId}`, { token: b1.token })).status).toBe(204);
    const afterRemoval = await attempt(await recipientsOf(h, a1, [a1.userId, b1.userId]));
    expect(afterRemoval.status).toBe(201);
    expect(decrypt(b2, (await history(h, b2, id)).body.messages.at(-1))).toBe("hi");
  });

  it("refuses keys for a device that re-registered since its bundle was fetched (410 STALE_DEVICES)", async () => {
    const [a, b] = [await newAccount(h), await newAccount(h)];
    const id = await direct(h, a, b);
    const upload = (d: Device, registration_id: number) =>
      h.req("PUT", "/api/v1/keys", { token: d.token, body: { registration_id } });
    expect((await upload(b, 111)).status).toBe(200);
    const fetched = await h.req("GET", `/api/v1/users/${b.userId}/devices`, { token: a.token });
    expect(fetched.body.devices[0].registration_id).toBe(111);
    const before = await recipientsOf(h, a, [b.userId]);
    expect(before[0]!.registration_id).toBe(111);

    // b reinstalls: the same device id with a new identity key, then a new registration id.
    const key = newDeviceKey();
    const { res } = await logIn(h, b.email, b.deviceId, key);
    const b2: Device = { ...b, token: res.body.session_token, secretKey: key.secretKey };
    expect((await upload(b2, 222)).status).toBe(200);

    const refused = await post(a, { conversation_id: id, ...wire("hello", before) });
    expect(refused.status).toBe(410);
    expect(refused.body).toMatchObject({
      code: "STALE_DEVICES",
      stale_devices: [{ user_id: b.userId, device_id: b.deviceId }],
    });
    const fresh = await recipientsOf(h, a, [b.userId]);
    expect(fresh[0]!.registration_id).toBe(222);
    const ok = await post(a, { conversation_id: id, ...wire("hello again", fresh) });
    expect(ok.status).toBe(201);
    expect(decrypt(b2, (await history(h, b2, id)).body.messages.at(-1))).toBe("hello again");
  });
});

describe("idempotent sends", () => {
  it("ten concurrent sends with one client_message_id store one message", async () => {
    const [a, b] = [await newAccount(h), await newAccount(h)];
    const id = await direct(h, a, b);
    const recipients = await recipientsOf(h, a, [a.userId, b.userId]);
    const body = { conversation_id: id, client_message_id: "retry-1", ...wire("once", recipients) };
    const results = await Promise.all(Array.from({ length: 10 }, () => post(a, body)));
    expect(results.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 201]);
    expect(new Set(results.map((r) => r.body.id)).size).toBe(1);
    const page = await history(h, b, id);
    expect(page.body.messages).toHaveLength(1);
    expect(page.body.total).toBe(1);
    const conversation = await h.req("GET", `/api/v1/conversations/${id}`, { token: b.token });
    expect(conversation.body.unread_count).toBe(1);
    expect(h.deps.metrics.render()).toMatch(/message_changes_total\{type="new_message"\} \d+/);

    // A later retry with other content still answers the first message.
    const later = await post(a, { ...body, ...wire("twice", recipients) });
    expect(later.status).toBe(200);
    expect(later.body.id).toBe(results[0]!.body.id);
    expect(decrypt(b, (await history(h, b, id)).body.messages[0])).toBe("once");
  });

  it("a refused send does not use up its client_message_id", async () => {
    const [a, b] = [await newAccount(h), await newAccount(h)];
    const id = await direct(h, a, b);
    const wrong = await post(a, { conversation_id: id, client_message_id: "c-2", ...wire("x", []) });
    expect(wrong.status).toBe(409);
    const right = await post(a, {
      conversation_id: id,
      client_message_id: "c-2",
      ...wire("x", await recipientsOf(h, a, [b.userId])),
    });
    expect(right.status).toBe(201);
  });
});

describe("history pages", () => {
  it("pages back and forth with no gap and no duplicate", async () => {
    const [a, b] = [await newAccount(h), await newAccount(h)];
    const id = await direct(h, a, b);
    const sent: string[] = [];
    for (let i = 0; i < 23; i++) {
      const { res } = await send(h, i % 2 ? a : b, id, `m${i}`);
      sent.push(res.body.id);
    }
    const back: string[] = [];
    let page = await history(h, a, id, "?limit=5");
    expect(page.body).toMatchObject({ has_more: true, total: 23 });
    while (true) {
      const ids = page.body.messages.map((m: { id: string }) => m.id);
      back.unshift(...ids);
      if (!page.body.has_more) break;
      page = await history(h, a, id, `?limit=5&before=${ids[0]}`);
    }
    expect(back).toEqual(sent);

    const forward: string[] = [];
    page = await history(h, a, id, `?limit=4&after=${sent[0]}`);
    forward.push(sent[0]!);
    while (true) {
      const ids = page.body.messages.map((m: { id: string }) => m.id);
      forward.push(...ids);
      if (!page.body.has_more) break;
      page = await history(h, a, id, `?limit=4&after=${ids.at(-1)}`);
    }
    expect(forward).toEqual(sent);
    const seqs = (await history(h, a, id, "?limit=100")).body.messages.map((m: { seq: number }) => m.seq);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
  });

  it("leaves out messages deleted for me, shows tombstones, and counts both right", async () => {
    const [a, b] = [await newAccount(h), await newAccount(h)];
    const id = await direct(h, a, b);
    const sent: string[] = [];
    for (let i = 0; i < 8; i++) sent.push((await send(h, a, id, `m${i}`)).res.body.id);
    const del = (d: Device, m: string, everyone: boolean) =>
      h.req("DELETE", `/api/v1/messages/${m}`, { token: d.token, body: { delete_for_everyone: everyone } });
    for (const m of [sent[2]!, sent[3]!, sent[4]!]) expect((await del(b, m, false)).status).toBe(200);
    expect((await del(a, sent[6]!, true)).status).toBe(200);

    const mine = await history(h, b, id, "?limit=3");
    expect(mine.body.total).toBe(5);
    expect(mine.body.messages.map((m: { id: string }) => m.id)).toEqual([sent[5], sent[6], sent[7]]);
    expect(mine.body.messages[1]).toMatchObject({
      is_deleted: true,
      encrypted_content: null,
      recipient_keys: [],
    });
    const older = await history(h, b, id, `?limit=3&before=${sent[5]}`);
    expect(older.body.messages.map((m: { id: string }) => m.id)).toEqual([sent[0], sent[1]]);
    expect(older.body.has_more).toBe(false);
    const theirs = await history(h, a, id, "?limit=100");
    expect(theirs.body.total).toBe(8);
    expect(theirs.body.messages).toHaveLength(8);
  });

  // The page's keys and marks are read alongside its messages, before they are known (history.ts);
  // these two leave each of those reads short of the page and see it read again.
  it("hands each message its key when a second key set of newer messages fills the early read", async () => {
    const [a, b] = [await newAccount(h), await newAccount(h)];
    const id = await direct(h, a, b);
    const sent: string[] = [];
    for (let i = 0; i < 5; i++) sent.push((await send(h, a, id, `m${i}`)).res.body.id);
    // An edit that stopped between writing its key set and dropping the old one leaves two.
    const keys = h.raw("message_keys");
    for (const m of [sent[4]!, sent[3]!]) {
      const k = await keys.findOne({ message_id: new ObjectId(m), device_id: b.deviceId });
      await keys.insertOne({ ...k, _id: new ObjectId(), version: -1 });
    }
    const page = await history(h, b, id, "?limit=3");
    expect(page.body.messages.map((m: { id: string }) => m.id)).toEqual([sent[2], sent[3], sent[4]]);
    expect(page.body.messages.map((m: Parameters<typeof decrypt>[1]) => decrypt(b, m))).toEqual([
      "m2",
      "m3",
      "m4",
    ]);
  });

  it("leaves out a message deleted for me when marks of erased messages fill the early read", async () => {
    const [a, b] = [await newAccount(h), await newAccount(h)];
    const id = await direct(h, a, b);
    const sent: string[] = [];
    for (let i = 0; i < 6; i++) sent.push((await send(h, a, id, `m${i}`)).res.body.id);
    const forMe = (m: string) =>
      h.req("DELETE", `/api/v1/messages/${m}`, { token: b.token, body: { delete_for_everyone: false } });
    expect((await forMe(sent[5]!)).status).toBe(200);
    expect((await forMe(sent[2]!)).status).toBe(200);
    // Two messages erased with their marks left behind (a crash half way through erasing them).
    for (const m of [sent[4]!, sent[3]!]) {
      const message = await h.raw("messages").findOneAndDelete({ _id: new ObjectId(m) });
      await h.raw("message_marks").insertOne({
        _id: new ObjectId(),
        message_id: message!._id,
        conversation_id: message!.conversation_id,
        user_id: new ObjectId(b.userId),
        seq: message!.seq,
        hidden: true,
        at: new Date(),
      });
    }
    const page = await history(h, b, id, "?limit=2");
    expect(page.body.messages.map((m: { id: string }) => m.id)).toEqual([sent[0], sent[1]]);
    expect(page.body.has_more).toBe(false);
  });

  it("refuses bad cursors and limits, naming the field", async () => {
    const [a, b, c] = [await newAccount(h), await newAccount(h), await newAccount(h)];
    const id = await direct(h, a, b);
    const other = await direct(h, a, c);
    const elsewhere = (await send(h, a, other, "x")).res.body.id;
    const m = (await send(h, a, id, "y")).res.body.id;
    for (const [query, field] of [
      [`?before=${elsewhere}`, "before"],
      [`?before=${m}&after=${m}`, "after"],
      ["?limit=101", "limit"],
      ["?limit=0", "limit"],
      ["?before=nope", "before"],
    ] as const) {
      const res = await history(h, a, id, query);
      expect(res.status, query).toBe(400);
      expect(res.body.fields[field], query).toBeTruthy();
    }
  });

  it("refuses a cursor whose message is gone, at a position this server served as a page's end", async () => {
    const [a, b] = [await newAccount(h), await newAccount(h)];
    const id = await direct(h, a, b);
    const stays = (await send(h, a, id, "stays")).res.body.id;
    const goes = (await send(h, a, id, "goes", { ttl_seconds: 30 })).res.body.id;
    const later = (await send(h, a, id, "later")).res.body.id;
    // Pages whose ends are the message that goes: its position is known to the server from them.
    const ends = (res: Awaited<ReturnType<typeof history>>) =>
      res.body.messages.map((m: { id: string }) => m.id);
    expect(ends(await history(h, b, id, `?before=${later}&limit=2`))).toEqual([stays, goes]);
    expect(ends(await history(h, b, id, `?after=${stays}&limit=1`))).toEqual([goes]);
    expect(ends(await history(h, b, id, `?before=${goes}`))).toEqual([stays]);
    expect(ends(await history(h, b, id, `?after=${goes}`))).toEqual([later]);

    h.clock.advance(30);
    expect(await sweepOnce(h.deps)).toBeGreaterThanOrEqual(1);
    expect(await h.raw("messages").countDocuments({ _id: new ObjectId(goes) })).toBe(0);
    for (const field of ["before", "after"]) {
      const res = await history(h, b, id, `?${field}=${goes}`);
      expect(res.status, field).toBe(400);
      expect(res.body.fields, field).toEqual({ [field]: "not a message of this conversation" });
    }
    // The messages around it still page from each other.
    expect(ends(await history(h, b, id, `?after=${stays}`))).toEqual([later]);
  });
});

describe("what a send may carry", () => {
  it("bounds every size and names the field", async () => {
    const [a, b] = [await newAccount(h), await newAccount(h)];
    const id = await direct(h, a, b);
    const ok = wire("x", await recipientsOf(h, a, [b.userId]));
    const base = { conversation_id: id, ...ok };
    const big = Buffer.alloc(65_537).toString("base64");
    const key = ok.recipient_keys[0]!;
    for (const [patch, field] of [
      [{ encrypted_content: big }, "encrypted_content"],
      [{ encrypted_content: "not base64!" }, "encrypted_content"],
      [
        { recipient_keys: [{ ...key, encrypted_key: Buffer.alloc(2049).toString("base64") }] },
        "recipient_keys.0.encrypted_key",
      ],
      [{ recipient_keys: [key, key] }, "recipient_keys.1.device_id"],
      [
        { recipient_keys: Array.from({ length: 301 }, (_, i) => ({ ...key, device_id: `d${i}` })) },
        "recipient_keys",
      ],
      [{ client_message_id: "x".repeat(65) }, "client_message_id"],
      [{ content_type: "hologram" }, "content_type"],
      [{ ttl_seconds: 0 }, "ttl_seconds"],
      [{ encrypted_preview: Buffer.alloc(1025).toString("base64") }, "encrypted_preview"],
      [{ surprise: true }, "body"],
      [{ reply_to: "0123456789abcdef01234567" }, "reply_to"],
    ] as const) {
      const res = await post(a, { ...base, ...patch });
      expect(res.status, field).toBe(400);
      expect(Object.keys(res.body.fields ?? {}), field).toContain(field);
    }
  });

  it("keeps HABIBTI's metadata and a reply to a message of the same conversation", async () => {
    const [a, b] = [await newAccount(h), await newAccount(h)];
    const id = await direct(h, a, b);
    const first = (await send(h, b, id, "question")).res.body.id;
    const { res } = await send(h, a, id, "answer", {
      reply_to: first,
      content_type: "location",
      is_ephemeral: true,
      ttl_seconds: 3600,
      view_once: true,
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      content_type: "location",
      metadata: { reply_to: first, is_ephemeral: true, ttl_seconds: 3600, view_once: true, media_url: null },
    });
  });

  it("answers 404 to anyone outside the conversation, as for one that does not exist", async () => {
    const [a, b, outsider] = [await newAccount(h), await newAccount(h), await newAccount(h)];
    const id = await direct(h, a, b);
    const m = (await send(h, a, id, "private")).res.body.id;
    const send404 = await post(outsider, { conversation_id: id, ...wire("hi", []) });
    const unknown = await post(outsider, { conversation_id: "0123456789abcdef01234567", ...wire("hi", []) });
    expect([send404.status, unknown.status]).toEqual([404, 404]);
    expect(send404.body).toEqual(unknown.body);
    expect((await history(h, outsider, id)).status).toBe(404);
    for (const [method, path] of [
      ["POST", `/api/v1/messages/${m}/read`],
      ["POST", `/api/v1/messages/${m}/delivered`],
      ["DELETE", `/api/v1/messages/${m}`],
      ["PUT", `/api/v1/messages/${m}`],
    ] as const) {
      const body = method === "PUT" ? wire("x", []) : undefined;
      expect((await h.req(method, path, { token: outsider.token, body })).status, path).toBe(404);
    }
  });

  it("holds a 1:1 conversation to the other person's rules on every message", async () => {
    const [a, b] = [await newAccount(h), await newAccount(h)];
    const id = await direct(h, a, b);
    expect((await send(h, a, id, "before")).res.status).toBe(201);
    await h.req("POST", `/api/v1/users/${a.userId}/block`, { token: b.token });
    const blocked = await post(a, { conversation_id: id, ...wire("after", await recipientsOf(h, a, [])) });
    // Someone who blocked the sender looks like a deleted account: the same 409 (docs/abuse.md).
    expect(blocked).toMatchObject({ status: 409, body: { code: "INVALID_STATE" } });
    // In a group, a block between two members silences neither.
    const c = await newAccount(h);
    const g = await group(h, c, [a, b]);
    const { res } = await send(h, a, g, "to the group");
    expect(res.status).toBe(201);
    expect(decrypt(b, (await history(h, b, g)).body.messages[0])).toBe("to the group");
  });

  // 102 sends one after another: well within 30 s on an idle machine, not always on a loaded one.
  it("limits sends to 100 a minute per user", { timeout: 120_000 }, async () => {
    const [a, b] = [await newAccount(h), await newAccount(h)];
    const id = await direct(h, a, b);
    const body = { conversation_id: id, ...wire("x", await recipientsOf(h, a, [b.userId])) };
    const statuses: number[] = [];
    for (let i = 0; i < 101; i++) statuses.push((await post(a, body)).status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(100);
    const last = await post(a, body);
    expect(last.status).toBe(429);
    expect(last.headers.get("retry-after")).toBeTruthy();
    h.clock.advance(61);
    expect((await post(a, body)).status).toBe(201);
  });
});
