import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  addDevice,
  type Device,
  devicesIn,
  direct,
  group,
  history,
  newAccount,
  send,
  wire,
} from "../helpers/e2e.js";
import { type Hush, startHush } from "../helpers/hush.js";

let h: Hush;
beforeAll(async () => {
  h = await startHush();
});
afterAll(() => h?.close());

const api = (d: Device, method: string, path: string, body?: unknown) =>
  h.req(method, `/api/v1${path}`, { token: d.token, ...(body === undefined ? {} : { body }) });
const block = (by: Device, other: Device) => api(by, "POST", `/users/${other.userId}/block`);
/** Entries recorded since `from` that name any device of `user`. */
const reaching = (from: number, user: Device) =>
  h.changes.slice(from).filter((c) => c.targets.some((t) => t.user_id.toHexString() === user.userId));

/**
 * Everything the blocked person can ask of a 1:1, with what differs between any two conversations
 * (ids, times, the other person's own message) taken out: two views are equal exactly when the
 * other person looks the same in both.
 */
async function viewOf(me: Device, conversationId: string, messageId: string) {
  const conversation = (await api(me, "GET", `/conversations/${conversationId}`)).body;
  const devices = (await api(me, "GET", `/conversations/${conversationId}/devices`)).body.devices;
  const page = (await history(h, me, conversationId)).body.messages;
  const one = (await api(me, "GET", `/messages/${messageId}`)).body;
  const sent = await send(h, me, conversationId, "still there?");
  const timer = await api(me, "PATCH", `/conversations/${conversationId}`, { ttl_seconds: 60 });
  const strip = ({ id, created_at, updated_at, last_message, ...rest }: any) => ({
    ...rest,
    last_message: last_message && { sender_id: last_message.sender_id },
  });
  return {
    conversation: strip(conversation),
    devices: devices.map((d: any) => d.user_id === me.userId),
    senders: page.map((m: any) => [m.sender_id, m.sender_device_id]),
    one: [one.sender_id, one.sender_device_id],
    send: [sent.res.status, sent.res.body],
    timer: [timer.status, timer.body],
  };
}

describe("blocks in a 1:1 conversation", () => {
  it("the blocker looks to the blocked person exactly like a deleted account, on every route", async () => {
    const [me, blocker, leaver] = await Promise.all([newAccount(h), newAccount(h), newAccount(h)]);
    const withBlocker = await direct(h, me, blocker);
    const withLeaver = await direct(h, me, leaver);
    const fromBlocker = (await send(h, blocker, withBlocker, "hi")).res.body.id;
    const fromLeaver = (await send(h, leaver, withLeaver, "hi")).res.body.id;
    expect((await block(blocker, me)).status).toBe(204);
    expect((await api(leaver, "DELETE", "/users/me")).status).toBe(204);

    const blocked = await viewOf(me, withBlocker, fromBlocker);
    const deleted = await viewOf(me, withLeaver, fromLeaver);
    expect(blocked).toEqual(deleted);
    // And what they look like: nobody there but me, no sender, sends and timer refused alike.
    expect(blocked.conversation).toMatchObject({ participants: [], member_count: 1 });
    expect(blocked.devices.every(Boolean)).toBe(true);
    expect(blocked.senders).toEqual([[null, null]]);
    expect(blocked.send[0]).toBe(409);
    expect(blocked.timer[0]).toBe(409);
    expect((await api(me, "GET", `/users/${blocker.userId}`)).status).toBe(404);
    // The blocker still sees the conversation with the person they blocked.
    const theirs = (await api(blocker, "GET", `/conversations/${withBlocker}`)).body;
    expect(theirs.participants.map((p: any) => p.user_id)).toEqual([me.userId]);
  });

  it("one conversation list: the blocker is absent from the 1:1 and still a member in a shared group", async () => {
    const [me, blocker, third] = await Promise.all([newAccount(h), newAccount(h), newAccount(h)]);
    const withBlocker = await direct(h, me, blocker);
    const team = await group(h, blocker, [me, third]);
    expect((await block(blocker, me)).status).toBe(204);
    const list = (await api(me, "GET", "/conversations")).body.conversations;
    const byId = new Map(list.map((c: any) => [c.id, c]));
    const people = (id: string) => (byId.get(id) as any).participants.map((p: any) => p.user_id).sort();
    expect(people(withBlocker)).toEqual([]);
    expect(byId.get(withBlocker)).toMatchObject({ member_count: 1 });
    expect(people(team)).toEqual([blocker.userId, third.userId].sort());
    expect(byId.get(team)).toMatchObject({ member_count: 3 });
  });

  it("the blocked side cannot reach the blocker's devices through the timer or edits", async () => {
    const [me, blocker] = await Promise.all([newAccount(h), newAccount(h)]);
    const id = await direct(h, me, blocker);
    const mine = (await send(h, me, id, "before")).res.body.id;
    const keys = await devicesIn(h, me, id);
    expect((await block(blocker, me)).status).toBe(204);
    const from = h.changes.length;
    for (const ttl of [60, 120, 60]) {
      const r = await api(me, "PATCH", `/conversations/${id}`, { ttl_seconds: ttl });
      expect(r).toMatchObject({ status: 409, body: { code: "INVALID_STATE" } });
    }
    const edit = await api(me, "PUT", `/messages/${mine}`, wire("edited", keys));
    expect(edit).toMatchObject({ status: 409, body: { code: "INVALID_STATE" } });
    expect(reaching(from, blocker)).toEqual([]);
    expect((await api(me, "GET", `/conversations/${id}`)).body.ttl_seconds).toBeNull();
  });

  it("the blocker cannot message or set the timer for the person they blocked until they unblock", async () => {
    const [me, blocker] = await Promise.all([newAccount(h), newAccount(h)]);
    const id = await direct(h, me, blocker);
    expect((await block(blocker, me)).status).toBe(204);
    const from = h.changes.length;
    const sent = await send(h, blocker, id, "you are blocked, but");
    expect(sent.res).toMatchObject({
      status: 409,
      body: { code: "INVALID_STATE", detail: expect.stringContaining("unblock") },
    });
    const timer = await api(blocker, "PATCH", `/conversations/${id}`, { ttl_seconds: 60 });
    expect(timer).toMatchObject({ status: 409, body: { detail: expect.stringContaining("unblock") } });
    expect(reaching(from, me)).toEqual([]);
    expect((await api(blocker, "DELETE", `/users/${me.userId}/block`)).status).toBe(204);
    expect((await send(h, blocker, id, "unblocked")).res.status).toBe(201);
  });

  it("the blocker's new identity key is not announced to the person they blocked, as a deleted account's would not be", async () => {
    const [me, blocker, friend] = await Promise.all([newAccount(h), newAccount(h), newAccount(h)]);
    await direct(h, me, blocker);
    await direct(h, friend, blocker);
    expect((await block(blocker, me)).status).toBe(204);
    await addDevice(h, blocker, blocker.deviceId); // a reinstall: the same device, a new identity key
    const announced = async (d: Device) =>
      (await api(d, "GET", "/sync?since=0")).body.entries.filter(
        (e: any) => e.type === "identity_changed" && e.data.user_id === blocker.userId,
      ).length;
    expect(await announced(friend)).toBe(1);
    expect(await announced(me)).toBe(0);
  });
});
