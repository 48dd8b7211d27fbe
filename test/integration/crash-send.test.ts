import { ObjectId } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SEND_LEASE_MS } from "../../src/messages/client-ids.js";
import { SEND_STEPS } from "../../src/messages/send-steps.js";
import { addDevice, type Device, direct, history, newAccount, recipientsOf, wire } from "../helpers/e2e.js";
import { type Hush, startHush } from "../helpers/hush.js";
import { spawnServer } from "../helpers/spawned.js";

/*
 * A send is several writes with no transaction. For every step boundary a server process is killed
 * exactly there (TEST_CRASH_AT: the process SIGKILLs itself at Deps.checkpoint), another server is
 * started on the same data later than the dead one's lease (TEST_CLOCK_OFFSET_MS), and the send is
 * finished either by the client's retry with the same client_message_id or, with no retry, by the
 * recovery sweep. Then: the message is in history once, in every target device's stream once,
 * the counters are exact and the id still answers with that message.
 */

let h: Hush;
beforeAll(async () => {
  h = await startHush();
});
afterAll(() => h?.close());

const later = String(SEND_LEASE_MS + 5_000);
const dbName = () => h.deps.store.db.databaseName;
const secret = () => h.deps.config.JWT_SECRET;

async function post(url: string, d: Device, body: unknown) {
  const res = await fetch(`${url}/api/v1/messages`, {
    method: "POST",
    headers: { authorization: `Bearer ${d.token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const parsed = await res.json();
  h.check({
    method: "POST",
    url: "/api/v1/messages",
    status: res.status,
    headers: res.headers,
    body: parsed,
  });
  return { status: res.status, body: parsed };
}

/** Alice (two devices) writes to Bob (two devices) in a fresh 1:1. */
async function scene() {
  const a = await newAccount(h);
  const a2 = await addDevice(h, a);
  const b = await newAccount(h);
  const b2 = await addDevice(h, b);
  const conversation = await direct(h, a, b);
  const body = {
    conversation_id: conversation,
    client_message_id: `crash-${new ObjectId().toHexString()}`,
    ...wire("hello", await recipientsOf(h, a, [a.userId, b.userId])),
  };
  return { a, a2, b, b2, conversation, body };
}

/** Kills a server at `step` in the middle of the send, and returns once it is dead. */
async function crashAt(step: string, s: Awaited<ReturnType<typeof scene>>) {
  const doomed = await spawnServer({ JWT_SECRET: secret(), TEST_CRASH_AT: step }, { dbName: dbName() });
  await expect(post(doomed.url, s.a, s.body)).rejects.toThrow();
  expect(await doomed.exited).toBe("SIGKILL");
}

async function streamOf(d: Device) {
  const res = await h.req("GET", "/api/v1/sync?since=0&limit=500", { token: d.token });
  expect(res.status).toBe(200);
  return res.body.entries as { position: number; type: string; data: any }[];
}

/** Everything the promise covers, once the send is finished. */
async function expectDelivered(s: Awaited<ReturnType<typeof scene>>) {
  const page = await history(h, s.b, s.conversation);
  expect(page.body.messages).toHaveLength(1);
  expect(page.body.total).toBe(1);
  const message = page.body.messages[0];
  for (const d of [s.b, s.b2, s.a2]) {
    const entries = await streamOf(d);
    const mine = entries.filter((e) => e.type === "new_message" && e.data.message.id === message.id);
    expect(mine, `${d.deviceId}'s stream`).toHaveLength(1);
    expect(entries.map((e) => e.position)).toEqual(entries.map((_, i) => entries[0]!.position + i));
  }
  const seen = await h.req("GET", `/api/v1/conversations/${s.conversation}`, { token: s.b.token });
  expect(seen.body.unread_count).toBe(1);
  const mineToo = await h.req("GET", `/api/v1/conversations/${s.conversation}`, { token: s.a.token });
  expect(mineToo.body.unread_count).toBe(0);
  // Nothing of the send's work is left behind.
  const record = await h.raw("client_message_ids").findOne({ message_id: new ObjectId(message.id) });
  expect(record).not.toBeNull();
  expect(record!.op).toBeUndefined();
  expect(record!.lease_until).toBeUndefined();
  const conversation = await h.raw("conversations").findOne({ _id: new ObjectId(s.conversation) });
  expect(conversation!.pending_ops ?? []).toEqual([]);
  expect(conversation!.message_count).toBe(1);
  for (const m of await h.raw("conversation_members").find({ conversation_id: conversation!._id }).toArray())
    expect(m.pending_ops ?? []).toEqual([]);
  // The id still answers with the message; a new id sends a new one, after it.
  const again = await h.req("POST", "/api/v1/messages", { token: s.a.token, body: s.body });
  expect(again.status).toBe(200);
  expect(again.body.id).toBe(message.id);
  const next = await h.req("POST", "/api/v1/messages", {
    token: s.a.token,
    body: { ...s.body, client_message_id: `${s.body.client_message_id}-next` },
  });
  expect(next.status).toBe(201);
  expect(next.body.seq).toBeGreaterThan(message.seq);
  return message;
}

describe("a send killed at each step boundary", () => {
  for (const step of SEND_STEPS) {
    it(`${step}: the client's retry on a restarted server finishes it`, async () => {
      const s = await scene();
      await crashAt(step, s);
      // The sweep never runs on this one: the retry alone must finish the send.
      const restarted = await spawnServer(
        { JWT_SECRET: secret(), TEST_CLOCK_OFFSET_MS: later, EXPIRY_INTERVAL_MS: "3600000" },
        { dbName: dbName() },
      );
      try {
        const retry = await post(restarted.url, s.a, s.body);
        expect(retry.status).toBe(200);
        const message = await expectDelivered(s);
        expect(retry.body.id).toBe(message.id);
        // A position taken and lost with the process stays a gap: seq increases, it is not dense.
        expect(message.seq).toBe(step === "send.seq-taken" ? 2 : 1);
      } finally {
        await restarted.stop();
      }
    });

    it(`${step}: with no retry, the recovery sweep of a restarted server finishes it`, async () => {
      const s = await scene();
      await crashAt(step, s);
      const restarted = await spawnServer(
        { JWT_SECRET: secret(), TEST_CLOCK_OFFSET_MS: later, EXPIRY_INTERVAL_MS: "100" },
        { dbName: dbName() },
      );
      try {
        const records = h.raw("client_message_ids");
        const key = `${s.a.userId}:${s.body.client_message_id}`;
        for (let i = 0; i < 200 && (await records.findOne({ _id: key as any }))?.op; i++)
          await new Promise((r) => setTimeout(r, 50));
        await expectDelivered(s);
      } finally {
        await restarted.stop();
      }
    });
  }
});
