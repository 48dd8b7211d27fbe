import { ObjectId } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sha256 } from "../../src/lib/random.js";
import { sendRule } from "../../src/messages/routes.js";
import {
  addDevice,
  type Device,
  devicesIn,
  direct,
  group,
  history,
  newAccount,
  recipientsOf,
  wire,
} from "../helpers/e2e.js";
import { type Hush, startHush } from "../helpers/hush.js";
import { connect } from "../helpers/ws.js";

/*
 * What a send waits for was cut to a few round trips by running its independent reads, and its
 * independent writes, at once (src/messages/send.ts). These force the interleavings that change
 * could have broken: a claim made before the checks, the limit read alongside the rest, the writes
 * of one send racing another's, a membership or a device list changing mid-send.
 */

let h: Hush;
beforeAll(async () => {
  h = await startHush();
});
afterAll(() => h?.close());

const post = (d: Device, body: unknown) => h.req("POST", "/api/v1/messages", { token: d.token, body });

describe("client_message_id", () => {
  it("concurrent sends with one id, half with a wrong device list: one message, from a right one", async () => {
    const [a, b] = [await newAccount(h), await newAccount(h)];
    const id = await direct(h, a, b);
    const right = {
      conversation_id: id,
      client_message_id: "mixed-1",
      ...wire("right", await recipientsOf(h, a, [b.userId])),
    };
    const wrong = { ...right, ...wire("wrong", []) };
    // Refused sends record nothing: wrong ones alone, however many, leave the id free.
    const refused = await Promise.all(Array.from({ length: 5 }, () => post(a, wrong)));
    expect(refused.map((r) => r.status)).toEqual([409, 409, 409, 409, 409]);
    expect(await h.raw("client_message_ids").countDocuments({ sender_id: new ObjectId(a.userId) })).toBe(0);
    // Then both at once: a wrong one is refused, or answered the message if it came after the
    // message was recorded (as any retry is); it never blocks the right ones or wins.
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => post(a, i % 2 ? wrong : right)));
    const statuses = (odd: number) => results.filter((_, i) => i % 2 === odd).map((r) => r.status);
    for (const status of statuses(1)) expect([409, 200]).toContain(status);
    expect(statuses(0).sort()).toEqual([200, 200, 200, 200, 201]);
    const ids = new Set(results.filter((r) => r.status < 300).map((r) => r.body.id));
    expect(ids.size).toBe(1);
    const page = await history(h, b, id);
    expect(page.body.messages.map((m: any) => m.id)).toEqual([...ids]);
    const conversation = await h.req("GET", `/api/v1/conversations/${id}`, { token: b.token });
    expect(conversation.body.unread_count).toBe(1);
    expect(await h.raw("client_message_ids").countDocuments({ sender_id: new ObjectId(a.userId) })).toBe(1);
  });

  it("an expired claim the sweeper has not erased yet is no claim: the id sends a new message", async () => {
    const [a, b] = [await newAccount(h), await newAccount(h)];
    const id = await direct(h, a, b);
    const body = {
      conversation_id: id,
      client_message_id: "day-1",
      ...wire("x", await recipientsOf(h, a, [b.userId])),
    };
    const first = await post(a, body);
    expect(first.status).toBe(201);
    expect((await post(a, body)).status).toBe(200);
    // Past its retry window (as a day later), with the sweeper yet to come by.
    await h
      .raw("client_message_ids")
      .updateOne(
        { sender_id: new ObjectId(a.userId) },
        { $set: { expires_at: new Date(h.clock.now().getTime() - 1) } },
      );
    const [again, twin] = await Promise.all([post(a, body), post(a, body)]);
    expect([again.status, twin.status].sort()).toEqual([200, 201]);
    expect(again.body.id).toBe(twin.body.id);
    expect(again.body.id).not.toBe(first.body.id);
    const claim = await h.raw("client_message_ids").findOne({ sender_id: new ObjectId(a.userId) });
    expect(claim?.message_id.toHexString()).toBe(again.body.id);
    expect((await history(h, b, id)).body.messages).toHaveLength(2);
  });
});

describe("the device list", () => {
  it("is the members' whoever the keys name: a member they leave out, or a user who is none", async () => {
    const [a, b, c, outsider] = [
      await newAccount(h),
      await newAccount(h),
      await newAccount(h),
      await newAccount(h),
    ];
    const cLaptop = await addDevice(h, c);
    const id = await group(h, a, [b, c]);
    const all = await devicesIn(h, a, id);
    const ref = (d: Device) => ({ user_id: d.userId, device_id: d.deviceId });
    // The keys name b only: c's devices are read for the check (the members' list was not guessed).
    const onlyB = await post(a, {
      conversation_id: id,
      ...wire(
        "x",
        all.filter((d) => d.user_id === b.userId),
      ),
    });
    expect(onlyB.status).toBe(409);
    expect(onlyB.body.missing_devices).toEqual(expect.arrayContaining([ref(c), ref(cLaptop)]));
    expect(onlyB.body.missing_devices).toHaveLength(2);
    // The keys name an outsider too: their device is extra, whatever was read for them.
    const more = [...all, ...(await recipientsOf(h, a, [outsider.userId]))];
    const withOutsider = await post(a, { conversation_id: id, ...wire("x", more) });
    expect(withOutsider.status).toBe(409);
    expect(withOutsider.body).toMatchObject({ missing_devices: [], extra_devices: [ref(outsider)] });
    expect((await post(a, { conversation_id: id, ...wire("x", all) })).status).toBe(201);
  });
});

describe("the send limit", () => {
  it("refuses before anything the reads beside it found: no 404, no 400, no replay, nothing stored", async () => {
    const [a, b] = [await newAccount(h), await newAccount(h)];
    const id = await direct(h, a, b);
    const body = {
      conversation_id: id,
      client_message_id: "lim-1",
      ...wire("x", await recipientsOf(h, a, [b.userId])),
    };
    expect((await post(a, body)).status).toBe(201);
    // The budget spent, as 100 sends this minute would leave it (src/limits/ratelimit.ts's key).
    const size = sendRule.windowSeconds * 1000;
    const window = Math.floor(h.clock.now().getTime() / size);
    await h
      .raw("rate_limits")
      .updateOne(
        { _id: `${sha256(`${sendRule.name}\n${a.userId}`)}.${window}` as any },
        { $set: { n: sendRule.limit } },
      );
    const stranger = await newAccount(h);
    const other = await direct(h, stranger, b);
    for (const refused of [
      body, // a replay
      { ...body, client_message_id: "lim-2" }, // a new message
      { ...body, client_message_id: "lim-3", conversation_id: other }, // not a member: 404 otherwise
      { ...body, client_message_id: "lim-5", ...wire("x", []) }, // 409 otherwise
    ]) {
      const res = await post(a, refused);
      expect(res.status).toBe(429);
      expect(res.body.code).toBe("RATE_LIMITED");
    }
    const socket = (await connect(h, a.token)).client;
    const error = await socket.ask(
      { type: "send_message", data: { ...body, client_message_id: "lim-6" } },
      "error",
    );
    expect(error.data.code).toBe("RATE_LIMITED");
    await socket.close();
    expect((await history(h, b, id)).body.messages).toHaveLength(1);
    expect(await h.raw("client_message_ids").countDocuments({ sender_id: new ObjectId(a.userId) })).toBe(1);
  });
});

describe("one send for both doors", () => {
  it("counts REST and socket sends in one budget, shown in REST's headers on an answer after the count, a 404 too", async () => {
    const [a, b, stranger] = [await newAccount(h), await newAccount(h), await newAccount(h)];
    const id = await direct(h, a, b);
    const notMine = await direct(h, stranger, b);
    const keys = await recipientsOf(h, a, [b.userId]);
    const remaining = (res: { headers: Headers }) => res.headers.get("X-RateLimit-Remaining");
    const first = await post(a, { conversation_id: id, ...wire("1", keys) });
    expect(first.status).toBe(201);
    expect(remaining(first)).toBe(String(sendRule.limit - 1));
    const socket = (await connect(h, a.token)).client;
    const ack = await socket.ask(
      { type: "send_message", data: { conversation_id: id, ...wire("2", keys) } },
      "message_ack",
    );
    expect(ack.data).toMatchObject({ client_message_id: null, replay: false });
    await socket.close();
    const refused = await post(a, { conversation_id: notMine, ...wire("3", keys) });
    expect(refused.status).toBe(404);
    expect(remaining(refused)).toBe(String(sendRule.limit - 3));
    const third = await post(a, { conversation_id: id, ...wire("4", keys) });
    expect(remaining(third)).toBe(String(sendRule.limit - 4));
    expect(third.headers.get("X-RateLimit-Limit")).toBe(String(sendRule.limit));
    expect((await history(h, b, id)).body.messages).toHaveLength(3);
  });
});

describe("concurrent sends", () => {
  it("keep one sender's messages in the order of their frames, in every stream, with positions in a row", async () => {
    const [a, b] = [await newAccount(h), await newAccount(h)];
    const aLaptop = await addDevice(h, a);
    const id = await direct(h, a, b);
    const to = await devicesIn(h, a, id);
    const as = (await connect(h, a.token)).client;
    const bs = (await connect(h, b.token)).client;
    const ls = (await connect(h, aLaptop.token)).client;
    const count = 12;
    // Sent without waiting: the server handles one socket's frames in turn, so each send is
    // stored (and its entries appended) before the next begins.
    for (let i = 0; i < count; i++) {
      as.send({
        type: "send_message",
        data: { conversation_id: id, client_message_id: `burst-${i}`, ...wire(`m${i}`, to) },
      });
    }
    const acks = [];
    for (let i = 0; i < count; i++) acks.push(await as.next("message_ack"));
    expect(acks.map((x) => x.data.client_message_id)).toEqual(
      Array.from({ length: count }, (_, i) => `burst-${i}`),
    );
    const seqs = acks.map((x) => x.data.message.seq);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    for (const socket of [bs, ls]) {
      const got = [];
      for (let i = 0; i < count; i++) got.push(await socket.next("new_message"));
      expect(got.map((e) => e.data.message.id)).toEqual(acks.map((x) => x.data.message.id));
      const positions = got.map((e) => e.position);
      expect(positions).toEqual(positions.map((_, i) => positions[0]! + i));
    }
    for (const socket of [as, bs, ls]) await socket.close();
  });

  it("from several senders at once: every message stored once, counted once, and in every stream", async () => {
    const [a, b, c] = [await newAccount(h), await newAccount(h), await newAccount(h)];
    const id = await group(h, a, [b, c]);
    const cs = (await connect(h, c.token)).client;
    const sends = [];
    for (const d of [a, b]) {
      const to = await devicesIn(h, d, id);
      for (let i = 0; i < 6; i++) sends.push(post(d, { conversation_id: id, ...wire(`${i}`, to) }));
    }
    const results = await Promise.all(sends);
    expect(results.map((r) => r.status)).toEqual(results.map(() => 201));
    const seqs = results.map((r) => r.body.seq).sort((x, y) => x - y);
    expect(new Set(seqs).size).toBe(12);
    const got = [];
    for (let i = 0; i < 12; i++) got.push(await cs.next("new_message"));
    expect(new Set(got.map((e) => e.data.message.id))).toEqual(new Set(results.map((r) => r.body.id)));
    const conversation = await h.req("GET", `/api/v1/conversations/${id}`, { token: c.token });
    expect(conversation.body.unread_count).toBe(12);
    const newest = results.find((r) => r.body.seq === seqs.at(-1))!;
    expect(conversation.body.last_message.message_id).toBe(newest.body.id);
    const aSide = await h.req("GET", `/api/v1/conversations/${id}`, { token: a.token });
    expect(aSide.body.unread_count).toBe(6); // b's six, none of a's own
    await cs.close();
  });
});

describe("a send racing a change of who or what it goes to", () => {
  it("a member's removal: each send is stored for the members of its time, or refused with the new list", async () => {
    const [a, b, c] = [await newAccount(h), await newAccount(h), await newAccount(h)];
    const id = await group(h, a, [b, c]);
    const to = await devicesIn(h, a, id);
    const sends = Array.from({ length: 8 }, (_, i) => post(a, { conversation_id: id, ...wire(`${i}`, to) }));
    const removal = h.req("DELETE", `/api/v1/conversations/${id}/members/${c.userId}`, { token: a.token });
    const results = await Promise.all(sends);
    expect((await removal).status).toBe(204);
    for (const r of results) {
      expect([201, 409]).toContain(r.status);
      // Refused only for naming a device that is no longer a member's.
      if (r.status === 409)
        expect(r.body.extra_devices).toEqual([{ user_id: c.userId, device_id: c.deviceId }]);
    }
    const stored = results.filter((r) => r.status === 201).map((r) => r.body.id);
    const page = await history(h, b, id);
    expect(page.body.messages.map((m: any) => m.id).sort()).toEqual([...stored].sort());
    const bSide = await h.req("GET", `/api/v1/conversations/${id}`, { token: b.token });
    expect(bSide.body.unread_count).toBe(stored.length);
    expect((await history(h, c, id)).status).toBe(404);
    // After the removal, the new list is the only one accepted.
    const after = await post(a, { conversation_id: id, ...wire("after", to) });
    expect(after.status).toBe(409);
    expect((await post(a, { conversation_id: id, ...wire("after", await devicesIn(h, a, id)) })).status).toBe(
      201,
    );
  });

  it("a device's enrollment: each send is stored without it, or refused naming it missing", async () => {
    const [a, b] = [await newAccount(h), await newAccount(h)];
    const id = await direct(h, a, b);
    const to = await devicesIn(h, a, id);
    const sends = Array.from({ length: 8 }, (_, i) => post(a, { conversation_id: id, ...wire(`${i}`, to) }));
    const enrolled = addDevice(h, b, "tablet-race");
    const results = await Promise.all(sends);
    const tablet = await enrolled;
    for (const r of results) {
      expect([201, 409]).toContain(r.status);
      if (r.status === 409) {
        expect(r.body.missing_devices).toEqual([{ user_id: b.userId, device_id: tablet.deviceId }]);
      }
    }
    expect((await post(a, { conversation_id: id, ...wire("after", to) })).status).toBe(409);
    const stored = results.filter((r) => r.status === 201).length;
    expect((await history(h, b, id)).body.messages).toHaveLength(stored);
  });

  it("a block in a 1:1: each send is stored before it or refused, and every later one is refused", async () => {
    const [a, b] = [await newAccount(h), await newAccount(h)];
    const id = await direct(h, a, b);
    const to = await devicesIn(h, a, id);
    const sends = Array.from({ length: 6 }, (_, i) => post(a, { conversation_id: id, ...wire(`${i}`, to) }));
    const block = h.req("POST", `/api/v1/users/${a.userId}/block`, { token: b.token });
    const results = await Promise.all(sends);
    expect((await block).status).toBeLessThan(300);
    // Refused as to a deleted account: someone who blocked the sender looks absent (docs/abuse.md).
    for (const r of results) expect([201, 409]).toContain(r.status);
    expect((await post(a, { conversation_id: id, ...wire("later", to) })).status).toBe(409);
  });
});
