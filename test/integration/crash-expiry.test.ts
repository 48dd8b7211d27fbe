import { ObjectId } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXPIRY_STEPS, LEASE_MS } from "../../src/messages/expiry.js";
import { addDevice, type Device, group, newAccount, send } from "../helpers/e2e.js";
import { type Hush, startHush } from "../helpers/hush.js";
import { spawnServer } from "../helpers/spawned.js";

/*
 * An expiry batch is several writes with no transaction. For every step boundary a server process
 * is killed exactly there by its own expiry job (TEST_CRASH_AT), and another server started on the
 * same data after the dead one's lease (TEST_CLOCK_OFFSET_MS) finishes the batch. Then every
 * counter has each message taken back once, and every device was told once.
 */

let h: Hush;
beforeAll(async () => {
  h = await startHush();
});
afterAll(() => h?.close());

const TTL = 5;
/** Far enough ahead that the messages have expired; the restarted server is past the lease too. */
const expiredBy = TTL * 1000 + 60_000;
const env = (offset: number, extra: Record<string, string> = {}) => ({
  JWT_SECRET: h.deps.config.JWT_SECRET,
  TEST_CLOCK_OFFSET_MS: String(offset),
  EXPIRY_INTERVAL_MS: "100",
  ...extra,
});

/**
 * Three expiring messages in a group whose members' counters each take them back differently:
 * r1 has them unread, r2 (two devices) read the first and hid the second, `late` joined after
 * them (base count); one lasting message after them.
 */
async function scene() {
  const s = await newAccount(h);
  const [r1, r2, late] = [await newAccount(h), await newAccount(h), await newAccount(h)];
  const r2b = await addDevice(h, r2);
  const g = await group(h, s, [r1, r2]);
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const sent = await send(h, s, g, `m${i}`, { ttl_seconds: TTL });
    expect(sent.res.status).toBe(201);
    ids.push(sent.res.body.id);
  }
  const api = (d: Device, method: string, path: string, body?: unknown) =>
    h.req(method, `/api/v1${path}`, { token: d.token, body });
  expect((await api(r2, "POST", `/messages/${ids[0]}/read`)).status).toBe(200);
  expect((await api(r2, "DELETE", `/messages/${ids[1]}`, { delete_for_everyone: false })).status).toBe(200);
  expect((await api(s, "POST", `/conversations/${g}/members`, { user_id: late.userId })).status).toBe(201);
  expect((await send(h, s, g, "stays")).res.status).toBe(201);
  return { s, r1, r2, r2b, late, g, ids, api, devices: [s, r1, r2, r2b, late] };
}

async function expectExact(t: Awaited<ReturnType<typeof scene>>) {
  const _ids = t.ids.map((id) => new ObjectId(id));
  expect(await h.raw("messages").countDocuments({ _id: { $in: _ids } })).toBe(0);
  expect(await h.raw("message_marks").countDocuments({ message_id: { $in: _ids } })).toBe(0);
  expect(await h.raw("message_keys").countDocuments({ message_id: { $in: _ids } })).toBe(0);
  const conversation = await h.raw("conversations").findOne({ _id: new ObjectId(t.g) });
  expect(conversation).toMatchObject({ message_count: 1 });
  expect(conversation!.pending_ops ?? []).toEqual([]);
  const members = await h
    .raw("conversation_members")
    .find({ conversation_id: new ObjectId(t.g) })
    .toArray();
  const of = (d: Device) => members.find((m) => m.user_id.toHexString() === d.userId)!;
  expect(of(t.s)).toMatchObject({ unread_count: 0, hidden_count: 0, base_count: 0 });
  for (const d of [t.r1, t.r2, t.late]) {
    expect(of(d)).toMatchObject({ unread_count: 1, hidden_count: 0, base_count: 0 });
    expect(of(d).pending_ops ?? []).toEqual([]);
    const page = await t.api(d, "GET", `/messages/conversations/${t.g}/messages`);
    expect(page.body.total).toBe(1);
  }
  for (const d of t.devices) {
    const res = await h.req("GET", "/api/v1/sync?since=0&limit=500", { token: d.token });
    const entries = res.body.entries as { position: number; type: string; data: { message_id: string } }[];
    const told = entries.filter((e) => e.type === "message_expired").map((e) => e.data.message_id);
    expect(told.sort(), `${d.deviceId}'s stream`).toEqual([...t.ids].sort());
    expect(entries.map((e) => e.position)).toEqual(entries.map((_, i) => entries[0]!.position + i));
  }
}

/** Waits (bounded) for the restarted server's job to have finished every batch. */
async function settled(t: Awaited<ReturnType<typeof scene>>) {
  const _ids = t.ids.map((id) => new ObjectId(id));
  for (let i = 0; i < 300; i++) {
    const batches = await h.raw("expiry_batches").countDocuments({});
    const left = await h.raw("messages").countDocuments({ _id: { $in: _ids } });
    if (!batches && !left) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("an expiry batch killed at each step boundary", () => {
  for (const step of EXPIRY_STEPS) {
    it(`${step}: a restarted server finishes the batch, counting and telling each message once`, async () => {
      const t = await scene();
      const db = { dbName: h.deps.store.db.databaseName };
      // The process may die before it has even said it listens: either way, by its own hand.
      const died = await spawnServer(env(expiredBy, { TEST_CRASH_AT: step }), db).then(
        (s) => s.exited,
        (err: Error) => err.message,
      );
      expect(String(died)).toContain("SIGKILL");
      expect(await h.raw("expiry_batches").countDocuments({})).toBe(1);
      const restarted = await spawnServer(env(expiredBy + LEASE_MS + 5_000), db);
      try {
        await settled(t);
        await expectExact(t);
      } finally {
        await restarted.stop();
      }
    });
  }
});
