import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { downloadAttachment, HushClient, MemoryStore } from "@hush/sdk";
import { FileStore } from "@hush/sdk/node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Hush, startHush } from "../helpers/hush.js";
import { account, device, frameViolations, legacyAccount, options, recorder } from "./helpers.js";

let h: Hush;
const clients: HushClient[] = [];
const stores: { dump(): string }[] = [];
/** Everything sent in plaintext, to look for in the database afterwards. */
const plaintexts: string[] = [];
let fileBytes: Uint8Array;
const dirs: string[] = [];

const track = <T extends HushClient>(c: T) => {
  clients.push(c);
  return c;
};
/** Every version of every device's sessions record: each ratchet secret and message key it ever held. */
const sessionVersions: unknown[] = [];
class RecordingStore extends MemoryStore {
  override async set(key: string, value: unknown) {
    if (key === "sessions") sessionVersions.push(structuredClone(value));
    return super.set(key, value);
  }
}
const memory = () => {
  const s = new RecordingStore();
  stores.push(s);
  return s;
};
const say = (text: string) => {
  plaintexts.push(text);
  return text;
};

beforeAll(async () => {
  h = await startHush();
});
afterAll(async () => {
  for (const c of clients) c.disconnect();
  await h?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

// Several sign-ups per test (each publishes 200 prekeys) on a loaded two-core machine.
describe("the SDK against the real server", { timeout: 120_000 }, () => {
  it("two accounts, one with two devices, exchange messages, receipts, typing and a file end to end", async () => {
    const alice = track(await account(h, { store: memory(), tag: "alice" }));
    const bob = track(await account(h, { store: memory(), tag: "bob" }));
    const bobLaptop = track(await device(h, bob, "laptop", memory()));
    expect(alice.stats.prekeysUploaded).toBe(400);
    const counts = await alice.api.GET("/api/v1/keys/count");
    expect(counts.data).toEqual({ one_time_prekeys: 200, kem_prekeys: 200 });

    const aliceGot = recorder(alice, "message");
    const bobGot = recorder(bob, "message");
    const laptopGot = recorder(bobLaptop, "message");
    const receipts = recorder(alice, "receipt");
    const typing = recorder(alice, "typing");
    await Promise.all([alice.connect(), bob.connect(), bobLaptop.connect()]);

    const conv = await alice.startConversation(bob.userId);
    const sent = await alice.send(conv.id, say("hello bob, this is alice"));
    // The server got one wrapped key per device, alice's own included, and no plaintext.
    expect(sent.encrypted_content).not.toContain("hello");
    await bobGot.until((s) => s.length === 1);
    await laptopGot.until((s) => s.length === 1);
    for (const got of [bobGot.seen[0], laptopGot.seen[0]])
      expect(got).toMatchObject({
        id: sent.id,
        text: "hello bob, this is alice",
        senderId: alice.userId,
        outgoing: false,
        verified: true,
      });

    // Delivery receipts from both of bob's devices, a read receipt, typing.
    await receipts.until((s) => s.filter((r) => r.status === "delivered").length === 2);
    bob.markRead(sent.id);
    await receipts.until((s) => s.some((r) => r.status === "read" && r.user_id === bob.userId));
    bob.typing(conv.id);
    await typing.until((s) => s.some((t) => t.user_id === bob.userId && t.is_typing));

    // Bob answers from the phone: alice reads it, the laptop gets it as bob's own.
    const reply = await bob.send(conv.id, say("hi alice, bob here"));
    await aliceGot.until((s) => s.some((m) => m.id === reply.id));
    await laptopGot.until((s) => s.some((m) => m.id === reply.id));
    expect(aliceGot.seen.find((m) => m.id === reply.id)).toMatchObject({
      text: "hi alice, bob here",
      verified: true,
    });
    expect(laptopGot.seen.find((m) => m.id === reply.id)).toMatchObject({ outgoing: true, verified: true });

    // A file: encrypted, uploaded in parts, downloaded with ranges, digest checked, decrypted.
    fileBytes = new Uint8Array(randomBytes(700_000));
    const withFile = await alice.send(conv.id, say("a file for you"), {
      attachments: [{ bytes: fileBytes, name: "notes.bin", type: "application/octet-stream" }],
    });
    await laptopGot.until((s) => s.some((m) => m.id === withFile.id));
    const [ref] = laptopGot.seen.find((m) => m.id === withFile.id)!.attachments;
    expect(ref).toMatchObject({ name: "notes.bin", size: fileBytes.length });
    const downloaded = await bobLaptop.download(ref!);
    expect(Buffer.from(downloaded).equals(Buffer.from(fileBytes))).toBe(true);
    // A download cut off half way resumes with a range from where it stopped.
    const asked: string[] = [];
    let cut = false;
    const flaky = async (request: Request) => {
      asked.push(request.headers.get("range") ?? "whole");
      const res = await bobLaptop.fetch(request);
      if (cut) return res;
      cut = true;
      const reader = res.body!.getReader();
      let passed = 0;
      const body = new ReadableStream<Uint8Array>({
        async pull(c) {
          if (passed > 300_000) return c.error(new Error("connection reset"));
          const { done, value } = await reader.read();
          if (done) return c.close();
          passed += value.length;
          c.enqueue(value);
        },
      });
      return new Response(body, { status: res.status, headers: res.headers });
    };
    const resumed = await downloadAttachment(flaky, h.url, ref!);
    expect(Buffer.from(resumed).equals(Buffer.from(fileBytes))).toBe(true);
    expect(asked).toHaveLength(2);
    expect(asked[0]).toBe("whole");
    expect(Number(/^bytes=(\d+)-$/.exec(asked[1]!)![1])).toBeGreaterThan(300_000);
    // A tampered digest is refused rather than decrypted.
    await expect(bobLaptop.download({ ...ref!, sha256: "0".repeat(64) })).rejects.toThrow(/digest/);

    // Forward secrecy: what alice's device has read (her own copies too) does not open again
    // from the server's history; the messages are listed, their text is gone with their keys.
    const history = await alice.history(conv.id);
    expect(history.map((m) => m.id)).toEqual(expect.arrayContaining([sent.id, reply.id, withFile.id]));
    expect(history.map((m) => m.text)).toEqual([null, null, null]);
    expect(frameViolations).toEqual([]);
  });

  it("edits, deletes for everyone and view-once messages arrive as typed events", async () => {
    const alice = track(await account(h, { store: memory(), tag: "alice" }));
    const bob = track(await account(h, { store: memory(), tag: "bob" }));
    const bobLaptop = track(await device(h, bob, "laptop", memory()));
    const got = recorder(bob, "message");
    const laptopGot = recorder(bobLaptop, "message");
    const edited = recorder(bob, "edited");
    const deleted = recorder(bob, "deleted");
    const viewed = recorder(alice, "viewed");
    await Promise.all([alice.connect(), bob.connect(), bobLaptop.connect()]);
    const conv = await alice.startConversation(bob.userId);

    const m = await alice.send(conv.id, say("first draft"));
    await alice.edit(conv.id, m.id, say("second draft"));
    await edited.until((s) => s.length === 1);
    expect(edited.seen[0]).toMatchObject({ id: m.id, text: "second draft", verified: true });
    await alice.delete(m.id, true);
    await deleted.until((s) => s.length === 1);
    expect(deleted.seen[0]).toEqual({ messageId: m.id, conversationId: conv.id, forEveryone: true });

    const secret = await alice.send(conv.id, say("see this once"), { viewOnce: true });
    await got.until((s) => s.some((x) => x.id === secret.id));
    await laptopGot.until((s) => s.some((x) => x.id === secret.id));
    const sealed = got.seen.find((x) => x.id === secret.id)!;
    expect(sealed).toMatchObject({ viewOnce: true, text: null });
    expect(await bob.openViewOnce(sealed)).toMatchObject({ text: "see this once", verified: true });
    await expect(bob.openViewOnce(sealed)).rejects.toMatchObject({ code: "VIEW_ONCE_OPENED" });
    await viewed.until((s) => s.some((v) => v.messageId === secret.id && v.userId === bob.userId));
    // The laptop's own key is still there for it, once.
    const onLaptop = laptopGot.seen.find((x) => x.id === secret.id)!;
    expect(await bobLaptop.openViewOnce(onLaptop)).toMatchObject({ text: "see this once" });
  });

  it("picks up a device added mid-conversation through DEVICE_MISMATCH, without the app's help", async () => {
    const alice = track(await account(h, { store: memory(), tag: "alice" }));
    const bob = track(await account(h, { store: memory(), tag: "bob" }));
    const conv = await alice.startConversation(bob.userId);
    await alice.send(conv.id, say("before the tablet"));
    expect(alice.stats.deviceListRefetches).toBe(0);

    // Bob adds a tablet; alice's cached device list does not have it.
    const tablet = track(await device(h, bob, "tablet", memory()));
    const tabletGot = recorder(tablet, "message");
    await tablet.connect();
    const after = await alice.send(conv.id, say("after the tablet"));
    expect(alice.stats.deviceListRefetches).toBe(1);
    await tabletGot.until((s) => s.some((m) => m.id === after.id));
    expect(tabletGot.seen.find((m) => m.id === after.id)).toMatchObject({
      text: "after the tablet",
      verified: true,
    });
    // It joined after the first message: that one was never wrapped for it.
    expect(tabletGot.seen.map((m) => m.text)).not.toContain("before the tablet");
  });

  it("reports a legacy account's re-registered device as an identity change (a new safety number) and encrypts to its new key", async () => {
    const alice = track(await account(h, { store: memory(), tag: "alice" }));
    // A legacy account (no account key): device keys are trusted on first use, as before.
    const bob = track(await legacyAccount(h, { store: memory() }));
    const changes = recorder(alice, "identity_changed");
    await alice.connect();
    const conv = await alice.startConversation(bob.userId);
    await alice.send(conv.id, say("to the old phone"));
    const before = alice.safetyNumber(bob.userId);
    expect(before).toMatch(/^(\d{5} ){11}\d{5}$/);

    // Bob reinstalls: a fresh store, the same device id, a new identity key.
    const reinstalled = track(await device(h, bob, "phone", memory()));
    expect(reinstalled.device.publicKey).not.toBe(bob.device.publicKey);
    await changes.until((s) => s.length === 1);
    expect(changes.seen[0]).toMatchObject({
      userId: bob.userId,
      deviceId: "phone",
      previousKey: bob.device.publicKey,
      identityKey: reinstalled.device.publicKey,
      source: "stream",
    });
    expect(changes.seen[0]!.safetyNumber).not.toBe(before);
    expect(alice.safetyNumber(bob.userId)).toBe(changes.seen[0]!.safetyNumber);

    // What alice sends next is for the new key, and the reinstalled phone reads it.
    const got = recorder(reinstalled, "message");
    await reinstalled.connect();
    const next = await alice.send(conv.id, say("to the new phone"));
    await got.until((s) => s.some((m) => m.id === next.id));
    expect(got.seen.find((m) => m.id === next.id)).toMatchObject({
      text: "to the new phone",
      verified: true,
    });
    // Reported once, whatever else alice fetched since.
    expect(changes.seen).toHaveLength(1);
  });

  it("a client killed mid-burst resumes from its stored position and gets the rest in order, once each", async () => {
    const alice = track(await account(h, { store: memory(), tag: "alice" }));
    const dir = mkdtempSync(join(tmpdir(), "hush-sdk-"));
    dirs.push(dir);
    const bob = track(await account(h, { store: new FileStore(dir), tag: "bob" }));
    const conv = await alice.startConversation(bob.userId);
    const first = recorder(bob, "message");
    let killedAt = -1;
    bob.on("message", () => {
      if (first.seen.length === 8) {
        killedAt = bob.position;
        bob.kill();
      }
    });
    await bob.connect();
    const burst = Array.from({ length: 30 }, (_, i) => `burst ${i}`);
    for (const text of burst) await alice.send(conv.id, say(text));
    await first.until((s) => s.length >= 8);
    expect(killedAt).toBeGreaterThan(0);

    // A new process: the same folder, nothing else.
    const again = (await HushClient.resume(options(h, new FileStore(dir))))!;
    track(again);
    const rest = recorder(again, "message");
    await again.connect();
    await rest.until((s) => s.length >= burst.length - first.seen.length);
    await again.caughtUp();
    expect([...first.seen, ...rest.seen].map((m) => m.text)).toEqual(burst);
    expect(rest.seen.every((m) => m.verified)).toBe(true);
  });

  it("leaves no plaintext, no private key, no ratchet secret and no message key anywhere in the database", async () => {
    expect(plaintexts.length).toBeGreaterThan(30);
    const names = (await h.deps.store.db.listCollections().toArray()).map((c) => c.name);
    expect(names).toEqual(
      expect.arrayContaining(["messages", "message_keys", "devices", "prekeys", "attachment_chunks"]),
    );
    const chunks: Buffer[] = [];
    let dump = "";
    for (const name of names) {
      const docs = await h.raw(name).find({}).toArray();
      for (const doc of docs) {
        dump += JSON.stringify(doc, function (this: Record<string, unknown>, k, v) {
          // The holder's own value: a Binary's toJSON has already turned `v` into base64.
          const raw = this[k] as { _bsontype?: string; buffer?: Uint8Array } | undefined;
          if (raw?._bsontype === "Binary") chunks.push(Buffer.from(raw.buffer!));
          return v;
        });
      }
    }
    expect(dump.length).toBeGreaterThan(10_000);
    for (const text of plaintexts) {
      expect(dump).not.toContain(text);
      expect(dump).not.toContain(Buffer.from(text).toString("base64"));
    }
    // The file's bytes: any 64-byte run of the plaintext would show in a stored chunk.
    const probe = Buffer.from(fileBytes.subarray(100_000, 100_064));
    expect(chunks.some((c) => c.includes(probe))).toBe(false);
    expect(chunks.length).toBeGreaterThan(0);
    // Every private key any device holds: identity secrets, account keys, signed and one-time prekey secrets.
    expect(sessionVersions.length).toBeGreaterThan(10);
    const secrets = new Set<string>();
    let accountSecrets = 0;
    for (const s of stores) {
      const held = JSON.parse(s.dump());
      const device = JSON.parse(held.device);
      secrets.add(device.secretKey);
      const account = JSON.parse(held.account);
      if (account.secretKey) accountSecrets += secrets.add(account.secretKey) ? 1 : 0;
      const prekeys = JSON.parse(held.prekeys);
      secrets.add(prekeys.signed.secretKey);
      for (const k of Object.values(prekeys.oneTime)) secrets.add(k as string);
      // ML-KEM prekeys: their keygen seeds are the secrets.
      for (const k of Object.values(prekeys.kem)) secrets.add(k as string);
      secrets.add(prekeys.kemLastResort.seed);
    }
    // Every ratchet secret and message key a device ever stored: root and chain keys, ratchet
    // private keys, skipped message keys, and the content keys kept until a position was stored.
    let ratchetSecrets = 0;
    let contentKeys = 0;
    for (const version of sessionVersions as {
      peers: Record<string, { sessions: { ratchet: Record<string, unknown> & { skipped: string[][] } }[] }>;
      opened: string[][];
    }[]) {
      for (const peer of Object.values(version.peers))
        for (const { ratchet } of peer.sessions) {
          for (const k of [ratchet.rk, ratchet.cks, ratchet.ckr, (ratchet.dhs as { sk: string }).sk])
            if (typeof k === "string" && secrets.add(k)) ratchetSecrets++;
          for (const skipped of ratchet.skipped) secrets.add(skipped[2]!);
        }
      for (const opened of version.opened) if (secrets.add(opened[1]!)) contentKeys++;
    }
    expect(ratchetSecrets).toBeGreaterThan(50);
    expect(contentKeys).toBeGreaterThan(10);
    expect(secrets.size).toBeGreaterThan(1000);
    expect(accountSecrets).toBeGreaterThan(0);
    for (const secret of secrets) {
      expect(dump).not.toContain(secret);
      expect(dump).not.toContain(Buffer.from(secret, "base64").toString("hex"));
    }
  });
});
