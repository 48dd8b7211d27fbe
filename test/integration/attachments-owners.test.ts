import { ObjectId } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHUNK_SIZE } from "../../src/attachments/chunks.js";
import { claimForMessage, eraseForMessages, releaseFromMessage } from "../../src/attachments/owners.js";
import { eraseConversation } from "../../src/db/owned.js";
import { AppError } from "../../src/http/errors.js";
import { sweepOnce } from "../../src/jobs/jobs.js";
import { binaryFetch, bytesOf } from "../helpers/attachments.js";
import { type Account, type Hush, signUp, startHush } from "../helpers/hush.js";
import { seededRandom } from "../helpers/seed.js";

const random = seededRandom();

// What the messages feature does with attachments, driven directly until messages call it.
let h: Hush;
let a: Account;
let b: Account;
beforeAll(async () => {
  h = await startHush();
  [a, b] = await Promise.all([signUp(h), signUp(h)]);
});
afterAll(() => h?.close());

/** The clock moves in these tests: each call takes a fresh access token first. */
async function tokenOf(acc: Account) {
  const r = await h.req("POST", "/api/v1/auth/refresh", { body: { refresh_token: acc.refresh } });
  acc.refresh = r.body.refresh_token;
  return r.body.session_token as string;
}
const upload = async (acc: Account, size = CHUNK_SIZE + 10) => {
  const r = await binaryFetch(h.check, `${h.url}/api/v1/attachments`, {
    method: "POST",
    token: await tokenOf(acc),
    body: bytesOf(size, String(random())),
    headers: { "content-type": "application/octet-stream" },
  });
  return new ObjectId(r.body.id as string);
};
const owner = (seq = 1) => ({
  message_id: new ObjectId(),
  conversation_id: new ObjectId(),
  message_seq: seq,
  message_expires_at: null,
});
const doc = (id: ObjectId) => h.raw("attachments").findOne({ _id: id });
const chunks = (id: ObjectId) =>
  h.raw("attachment_chunks").countDocuments({ _id: { $regex: `^${id.toHexString()}:` } } as object);
const uid = (acc: Account) => new ObjectId(acc.id);

describe("attachments owned by messages", () => {
  it("a message takes its sender's attachments: they no longer expire", async () => {
    const id = await upload(a);
    const o = owner();
    await claimForMessage(h.deps, uid(a), [id], o);
    expect(await doc(id)).toMatchObject({
      message_id: o.message_id,
      conversation_id: o.conversation_id,
      expires_at: null,
    });
    h.clock.advance(2 * 86_400);
    await sweepOnce(h.deps);
    expect(await chunks(id)).toBe(2);
  });

  it("takes all or none, naming each attachment it cannot take", async () => {
    const mine = await upload(a);
    const theirs = await upload(b);
    const taken = await upload(a);
    await claimForMessage(h.deps, uid(a), [taken], owner());
    const o = owner();
    const err = await claimForMessage(h.deps, uid(a), [mine, theirs, taken, new ObjectId()], o).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(AppError);
    expect(Object.keys(err.fields).sort()).toEqual([
      "attachment_ids.1",
      "attachment_ids.2",
      "attachment_ids.3",
    ]);
    expect((await doc(mine))?.message_id).toBeNull();
    expect((await doc(mine))?.expires_at).toBeInstanceOf(Date);
  });

  it("refuses an unfinished upload and an expired attachment", async () => {
    const open = await h.req("POST", "/api/v1/attachments/uploads", {
      token: await tokenOf(a),
      body: { size: 10 },
    });
    const err = await claimForMessage(h.deps, uid(a), [new ObjectId(open.body.id as string)], owner()).catch(
      (e) => e,
    );
    expect(err.code).toBe("VALIDATION_ERROR");
    const id = await upload(a);
    h.clock.advance(86_400 + 1);
    expect((await claimForMessage(h.deps, uid(a), [id], owner()).catch((e) => e)).code).toBe(
      "VALIDATION_ERROR",
    );
  });

  it("gives one attachment to exactly one of two messages racing for it", async () => {
    const id = await upload(a);
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, () => claimForMessage(h.deps, uid(a), [id], owner())),
    );
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
  });

  it("a released attachment expires again", async () => {
    const id = await upload(a);
    const o = owner();
    await claimForMessage(h.deps, uid(a), [id], o);
    await releaseFromMessage(h.deps, o.message_id);
    expect(await doc(id)).toMatchObject({ message_id: null, conversation_id: null });
    expect((await doc(id))?.expires_at).toBeInstanceOf(Date);
  });

  it("erases a message's attachments with their chunks, and a whole conversation's", async () => {
    const [one, two, other] = [await upload(a), await upload(a), await upload(a)];
    const m1 = owner();
    const m2 = { ...owner(), conversation_id: m1.conversation_id };
    await claimForMessage(h.deps, uid(a), [one], m1);
    await claimForMessage(h.deps, uid(a), [two], m2);
    await claimForMessage(h.deps, uid(a), [other], owner());
    await eraseForMessages(h.deps, [m1.message_id]);
    expect([await doc(one), await chunks(one)]).toEqual([null, 0]);
    expect(await chunks(two)).toBe(2);
    await eraseConversation(h.deps, m1.conversation_id); // the cascade a last departure runs
    expect([await doc(two), await chunks(two)]).toEqual([null, 0]);
    expect(await chunks(other)).toBe(2);
  });

  it("an owned attachment cannot be deleted by its uploader on its own", async () => {
    const id = await upload(a);
    await claimForMessage(h.deps, uid(a), [id], owner());
    const r = await binaryFetch(h.check, `${h.url}/api/v1/attachments/${id}`, {
      method: "DELETE",
      token: await tokenOf(a),
    });
    expect(r.status).toBe(409);
    expect(r.body.code).toBe("INVALID_STATE");
  });
});
