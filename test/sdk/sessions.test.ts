import { type HushClient, MemoryStore, type Message, PREKEY_TARGET } from "@hush/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { unb64 } from "../../sdk/src/bytes.js";
import { decodePart } from "../../sdk/src/pqxdh.js";
import type { PrekeyRecord } from "../../sdk/src/store.js";
import { deviceClaimRule } from "../../src/keys/routes.js";
import { type Hush, startHush } from "../helpers/hush.js";
import { account, checkedFetch, options, recorder } from "./helpers.js";

/*
 * PQXDH + Double Ratchet sessions between SDK clients, against the real server and store:
 * what a first message looks like, forward secrecy and healing tried with a stolen copy of a
 * device's store, sessions started by both sides at once, and a device that lost its sessions.
 */

let h: Hush;
const clients: HushClient[] = [];
const track = <T extends HushClient>(c: T) => {
  clients.push(c);
  return c;
};

beforeAll(async () => {
  h = await startHush();
});
afterAll(async () => {
  for (const c of clients) c.disconnect();
  await h?.close();
});

/** The wrapped key a message carries for one device (as the server hands it to that device), as bytes. */
async function wrappedFor(m: Message, c: HushClient) {
  const mine = (await serverCopy(c, m.conversation_id)).find((x) => x.id === m.id)!;
  return unb64(
    mine.recipient_keys.find((k) => k.user_id === c.userId && k.device_id === c.deviceId)!.encrypted_key,
  );
}

/** A copy of everything a device has stored: what a thief of its storage gets. */
function steal(store: MemoryStore) {
  const copy = new MemoryStore();
  for (const [k, v] of Object.entries(JSON.parse(store.dump()) as Record<string, string>))
    void copy.set(k, JSON.parse(v));
  return copy;
}

/** The conversation's messages as the server hands them to `c` (its wrapped keys), oldest first. */
async function serverCopy(c: HushClient, conversationId: string) {
  const page = await c.api.GET("/api/v1/messages/conversations/{conversation_id}/messages", {
    params: { path: { conversation_id: conversationId }, query: { limit: 100 } },
  });
  return [...page.data!.messages].sort((a, b) => a.seq - b.seq);
}

async function thiefOf(store: MemoryStore) {
  const { HushClient } = await import("@hush/sdk");
  return (await HushClient.resume(options(h, steal(store))))!;
}

describe("sessions between devices", { timeout: 120_000 }, () => {
  it("first messages run PQXDH on the claimed bundle (X3DH without a KEM prekey), then plain ratchet messages; one-time prekeys open one session", async () => {
    const bobStore = new MemoryStore();
    const alice = track(await account(h, { tag: "alice" }));
    const bob = track(await account(h, { store: bobStore, tag: "bob" }));
    const bobGot = recorder(bob, "message");
    const aliceGot = recorder(alice, "message");
    await Promise.all([alice.connect(), bob.connect()]);
    const conv = await alice.startConversation(bob.userId);

    const m1 = await alice.send(conv.id, "one");
    const m2 = await alice.send(conv.id, "two");
    const [first, second] = [await wrappedFor(m1, bob), await wrappedFor(m2, bob)];
    // 0x02: a prekey message, naming a one-time EC and a one-time KEM prekey, with the ML-KEM-1024 ciphertext.
    expect(first[0]).toBe(2);
    const { part } = decodePart(first.subarray(1));
    expect(part.opkId).not.toBeNull();
    expect(part.kemId).not.toBeNull();
    expect(part.ct).toHaveLength(1568);
    // Until bob answers, every message repeats it (the same session: the same base key).
    expect(second[0]).toBe(2);
    expect(decodePart(second.subarray(1)).part.ek).toEqual(part.ek);
    await bobGot.until((s) => s.length === 2);
    expect(bobGot.seen.map((m) => m.text)).toEqual(["one", "two"]);
    // The one-time secrets it used are gone from bob's store; the last-resort KEM key stays.
    const prekeys = (await bobStore.get<PrekeyRecord>("prekeys"))!;
    expect(prekeys.oneTime[part.opkId!]).toBeUndefined();
    expect(prekeys.kem![part.kemId!]).toBeUndefined();
    expect(prekeys.kemLastResort).toBeTruthy();

    const reply = await bob.send(conv.id, "back");
    expect((await wrappedFor(reply, alice))[0]).toBe(1);
    await aliceGot.until((s) => s.some((m) => m.text === "back"));
    const m3 = await alice.send(conv.id, "three");
    // Alice heard from bob: a plain ratchet message from now on.
    expect((await wrappedFor(m3, bob))[0]).toBe(1);
    await bobGot.until((s) => s.length === 3);
    expect(bob.sessions.stats.sessionsAccepted).toBe(1);

    // A server (or an old one) that hands out no KEM prekey: X3DH, no ciphertext, and it still opens.
    const noKem = async (request: Request) => {
      const res = await checkedFetch(h)(request);
      if (!request.url.endsWith("/keys/claim") || res.status !== 200) return res;
      const body = (await res.json()) as { devices: { kem_prekey: unknown }[] };
      for (const d of body.devices) d.kem_prekey = null;
      return new Response(JSON.stringify(body), { status: 200, headers: res.headers });
    };
    const { HushClient } = await import("@hush/sdk");
    const carolStore = new MemoryStore();
    await account(h, { store: carolStore, tag: "carol" });
    const carol = track((await HushClient.resume({ ...options(h, carolStore), fetch: noKem }))!);
    const withCarol = await carol.startConversation(bob.userId);
    const x3dh = await carol.send(withCarol.id, "no kem here");
    const w = await wrappedFor(x3dh, bob);
    expect(w[0]).toBe(2);
    expect(decodePart(w.subarray(1)).part).toMatchObject({ kemId: null, ct: new Uint8Array(0) });
    await bobGot.until((s) => s.some((m) => m.text === "no kem here"));
  });

  it("a device whose one-time KEM prekeys are all claimed is reached by PQXDH on its last-resort KEM prekey, which it keeps: a second sender's session on it opens too", async () => {
    const bobStore = new MemoryStore();
    const bob = track(await account(h, { store: bobStore, tag: "bob" }));
    const lastResort = (await bobStore.get<PrekeyRecord>("prekeys"))!.kemLastResort!;
    // Drain bob's stock with real claims, a day's allowance per day (bob stays offline: no top-up).
    const drainer = track(await account(h, { tag: "drainer" }));
    const claim = async () => {
      const r = await drainer.api.POST("/api/v1/keys/claim", {
        body: { user_id: bob.userId, device_id: bob.deviceId },
      });
      expect(r.data!.devices[0]!.kem_prekey).toMatchObject({ last_resort: false });
    };
    for (let left = PREKEY_TARGET; left > 0; left -= deviceClaimRule.limit) {
      const today = Math.min(left, deviceClaimRule.limit);
      // Ten at a time: a hundred at once on a loaded machine makes the store answer 503.
      for (let done = 0; done < today; done += 10)
        await Promise.all(Array.from({ length: Math.min(10, today - done) }, claim));
      // Past the day's allowance (see prekeys.test.ts for why two days): what follows finds the
      // stock empty, not the budget spent.
      h.clock.advance(2 * 86_400 + 1);
    }
    expect((await bob.api.GET("/api/v1/keys/count")).data).toEqual({ one_time_prekeys: 0, kem_prekeys: 0 });

    const alice = track(await account(h, { tag: "alice" }));
    const carol = track(await account(h, { tag: "carol" }));
    const fromAlice = await alice.send((await alice.startConversation(bob.userId)).id, "on the last resort");
    const fromCarol = await carol.send((await carol.startConversation(bob.userId)).id, "on it again");
    // Both first messages: PQXDH (an ML-KEM-1024 ciphertext) on the last-resort key, no one-time EC key.
    for (const m of [fromAlice, fromCarol]) {
      const w = await wrappedFor(m, bob);
      expect(w[0]).toBe(2);
      const { part } = decodePart(w.subarray(1));
      expect(part).toMatchObject({ opkId: null, kemId: lastResort.keyId });
      expect(part.ct).toHaveLength(1568);
    }

    // Bob opens alice's first (which would delete a one-time secret), then carol's on the same key.
    const bobGot = recorder(bob, "message");
    const lost = recorder(bob, "undecryptable");
    await bob.connect();
    await bobGot.until((s) => s.length === 2);
    expect(bobGot.seen.map((m) => m.text)).toEqual(["on the last resort", "on it again"]);
    expect(lost.seen).toEqual([]);
    expect(bob.sessions.stats.sessionsAccepted).toBe(2);
    // The last-resort secret is still there, unchanged.
    expect((await bobStore.get<PrekeyRecord>("prekeys"))!.kemLastResort).toEqual(lastResort);
  });

  it("forward secrecy: a copy of a device's whole store taken after it read messages 1..N opens none of them", async () => {
    const bobStore = new MemoryStore();
    const alice = track(await account(h, { tag: "alice" }));
    const bob = track(await account(h, { store: bobStore, tag: "bob" }));
    const conv = await alice.startConversation(bob.userId);
    const texts = ["m1", "m2", "m3", "m4", "m5"];
    for (const t of texts) await alice.send(conv.id, t);
    const messages = await serverCopy(bob, conv.id);
    expect(messages).toHaveLength(5);

    // The harness can tell: a copy taken before bob read them opens every one.
    const before = await thiefOf(bobStore);
    for (const [i, m] of messages.entries())
      expect((await before.decrypt(m, undefined, { peek: true }))?.text).toBe(texts[i]);

    const got = recorder(bob, "message");
    await bob.connect();
    await got.until((s) => s.length === 5);
    await bob.caughtUp();
    // A copy of everything bob's device stored now: none of the five opens.
    const after = await thiefOf(bobStore);
    for (const m of messages) expect((await after.decrypt(m, undefined, { peek: true }))?.text).toBeNull();
    for (const m of messages)
      await expect(
        after.sessions.unwrap(
          { userId: alice.userId, deviceId: alice.deviceId, identityKey: alice.device.publicKey },
          m.recipient_keys.find((k) => k.user_id === bob.userId)!.encrypted_key,
        ),
      ).rejects.toThrow();
  });

  it("healing: a copy stolen at T opens what comes before the next exchange, nothing after a reply each way", async () => {
    const bobStore = new MemoryStore();
    const alice = track(await account(h, { tag: "alice" }));
    const bob = track(await account(h, { store: bobStore, tag: "bob" }));
    const aliceGot = recorder(alice, "message");
    const bobGot = recorder(bob, "message");
    await Promise.all([alice.connect(), bob.connect()]);
    const conv = await alice.startConversation(bob.userId);
    await alice.send(conv.id, "hello");
    await bobGot.until((s) => s.length === 1);
    await bob.send(conv.id, "hi");
    await aliceGot.until((s) => s.length === 1);
    await bob.caughtUp();

    const stolen = steal(bobStore); // T
    const before = await alice.send(conv.id, "before the exchange");
    await bobGot.until((s) => s.length === 2);
    await bob.send(conv.id, "a reply after T");
    await aliceGot.until((s) => s.length === 2);
    const after = await alice.send(conv.id, "after the exchange");
    await bobGot.until((s) => s.length === 3);
    expect(bobGot.seen[2]!.text).toBe("after the exchange");

    // The thief runs bob's stolen state forward on the ciphertexts, as a device would.
    const { HushClient } = await import("@hush/sdk");
    const thief = (await HushClient.resume(options(h, stolen)))!;
    const sender = { userId: alice.userId, deviceId: alice.deviceId, identityKey: alice.device.publicKey };
    const keyFor = async (m: Message) => Buffer.from(await wrappedFor(m, bob)).toString("base64");
    // Before the exchange the stolen state still reads along (nothing fresh had happened yet)...
    await expect(thief.sessions.unwrap(sender, await keyFor(before))).resolves.toHaveLength(32);
    // ...after a new DH exchange without the thief, it does not.
    await expect(thief.sessions.unwrap(sender, await keyFor(after))).rejects.toThrow();
  });

  it("two devices starting a session at once converge on one, and nothing is lost", async () => {
    const alice = track(await account(h, { tag: "alice" }));
    const bob = track(await account(h, { tag: "bob" }));
    const conv = await alice.startConversation(bob.userId);
    // Both send first, neither connected: two sessions started, one by each side.
    const fromAlice = await alice.send(conv.id, "alice first");
    const fromBob = await bob.send(conv.id, "bob first");
    expect((await wrappedFor(fromAlice, bob))[0]).toBe(2);
    expect((await wrappedFor(fromBob, alice))[0]).toBe(2);
    const aliceGot = recorder(alice, "message");
    const bobGot = recorder(bob, "message");
    await Promise.all([alice.connect(), bob.connect()]);
    await aliceGot.until((s) => s.some((m) => m.text === "bob first"));
    await bobGot.until((s) => s.some((m) => m.text === "alice first"));
    // Each side picked the same one: the session the lower device name started.
    const a = await alice.sessions.activeWith(bob.userId, bob.deviceId);
    const b = await bob.sessions.activeWith(alice.userId, alice.deviceId);
    expect(a).toBe(b);
    const lower = `${alice.userId}:${alice.deviceId}` < `${bob.userId}:${bob.deviceId}` ? fromAlice : fromBob;
    const upper = lower === fromAlice ? bob : alice;
    const w = await wrappedFor(lower, upper);
    expect(Buffer.from(decodePart(w.subarray(1)).part.ek).toString("base64")).toBe(a);
    // And it carries on both ways.
    await alice.send(conv.id, "alice second");
    await bob.send(conv.id, "bob second");
    await aliceGot.until((s) => s.some((m) => m.text === "bob second"));
    await bobGot.until((s) => s.some((m) => m.text === "alice second"));
  });

  it("a device that lost its sessions reports the next message as undecryptable and heals within one round trip, on its own", async () => {
    const bobStore = new MemoryStore();
    const alice = track(await account(h, { tag: "alice" }));
    let bob = track(await account(h, { store: bobStore, tag: "bob" }));
    const aliceEntries = recorder(alice, "entry");
    const aliceGot = recorder(alice, "message");
    let bobGot = recorder(bob, "message");
    await Promise.all([alice.connect(), bob.connect()]);
    const conv = await alice.startConversation(bob.userId);
    await alice.send(conv.id, "before");
    await bobGot.until((s) => s.length === 1);
    await bob.send(conv.id, "ok");
    await aliceGot.until((s) => s.length === 1);

    // Bob's device comes back from a backup without its sessions (same identity key).
    await bob.caughtUp();
    bob.disconnect();
    await bobStore.delete("sessions");
    const { HushClient } = await import("@hush/sdk");
    bob = track((await HushClient.resume(options(h, bobStore)))!);
    bobGot = recorder(bob, "message");
    const lost = recorder(bob, "undecryptable");
    await bob.connect();
    const unreadable = await alice.send(conv.id, "lost on the way");
    await lost.until((s) => s.some((u) => u.messageId === unreadable.id));
    expect(bob.stats.sessionResets).toBe(1);
    // Bob's device sent a session reset on its own: alice takes it (no message for her app)...
    const fromBob = (e: (typeof aliceEntries.seen)[number]) =>
      e.type === "new_message" && e.data.message.sender_id === bob.userId ? e.data.message.id : null;
    await aliceEntries.until((s) =>
      s.some((e) => fromBob(e) && !aliceGot.seen.some((m) => m.id === fromBob(e))),
    );
    await alice.caughtUp();
    expect(aliceGot.seen).toHaveLength(1);
    // ...and her next message opens.
    const healed = await alice.send(conv.id, "healed");
    await bobGot.until((s) => s.some((m) => m.id === healed.id));
    expect(bobGot.seen.find((m) => m.id === healed.id)?.text).toBe("healed");
    expect(lost.seen).toHaveLength(1);
  });

  it("a message already read is ignored when it comes again, and reported nowhere", async () => {
    const alice = track(await account(h, { tag: "alice" }));
    const bob = track(await account(h, { tag: "bob" }));
    const conv = await alice.startConversation(bob.userId);
    const sent = await alice.send(conv.id, "once");
    const got = recorder(bob, "message");
    const lost = recorder(bob, "undecryptable");
    await bob.connect();
    await got.until((s) => s.length === 1);
    const [m] = await serverCopy(bob, conv.id);
    expect(m!.id).toBe(sent.id);
    expect(await bob.decrypt(m!)).toBeNull();
    expect(lost.seen).toEqual([]);
    expect(bob.stats.sessionResets).toBe(0);
  });
});
