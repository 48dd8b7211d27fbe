import { ObjectId } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHUNK_SIZE } from "../../src/attachments/chunks.js";
import { sweepOnce } from "../../src/jobs/jobs.js";
import { binaryFetch, bytesOf, sha256 } from "../helpers/attachments.js";
import { type Device, direct, group, newAccount, send } from "../helpers/e2e.js";
import { type Hush, startHush } from "../helpers/hush.js";
import { seededRandom } from "../helpers/seed.js";

// Attachments carried by messages: who may fetch them, and what erases them.
let h: Hush;
beforeAll(async () => {
  h = await startHush();
});
afterAll(() => h?.close());

const api = (path: string) => `${h.url}/api/v1${path}`;
const SIZE = 2 * CHUNK_SIZE + 77;
const random = seededRandom();

async function upload(d: Device, seed = String(random())) {
  const data = bytesOf(SIZE, seed);
  const r = await binaryFetch(h.check, api("/attachments"), {
    method: "POST",
    token: d.token,
    body: data,
    headers: { "content-type": "application/octet-stream" },
  });
  expect(r.status).toBe(201);
  return { id: r.body.id as string, data };
}
const fetchAs = (d: Device, id: string) =>
  binaryFetch(h.check, api(`/attachments/${id}`), { token: d.token });
const call = (d: Device, method: string, path: string, body?: unknown) =>
  h.req(method, `/api/v1${path}`, { token: d.token, ...(body === undefined ? {} : { body }) });
/** What the store holds of an attachment: its document and its chunks. */
async function stored(id: string) {
  const doc = await h.raw("attachments").findOne({ _id: new ObjectId(id) });
  const chunks = await h.raw("attachment_chunks").countDocuments({ _id: { $regex: `^${id}:` } } as object);
  return { doc: doc !== null, chunks };
}

describe("attachments in messages", () => {
  it("the conversation's members download what a message carries; nobody else does", async () => {
    const [a, b, outsider] = [await newAccount(h), await newAccount(h), await newAccount(h)];
    const ab = await direct(h, a, b);
    await direct(h, a, outsider); // a conversation of its own with the sender changes nothing
    const { id, data } = await upload(a);
    expect((await fetchAs(b, id)).status).toBe(404); // not sent yet: the uploader's alone
    const { res } = await send(h, a, ab, "a photo", { attachment_ids: [id] });
    expect(res.status).toBe(201);
    const got = await fetchAs(b, id);
    expect(got.status).toBe(200);
    expect(sha256(got.bytes)).toBe(sha256(data));
    expect((await fetchAs(outsider, id)).status).toBe(404);
    const doc = await h.raw("attachments").findOne({ _id: new ObjectId(id) });
    expect(doc).toMatchObject({ expires_at: null, conversation_id: new ObjectId(ab) });
  });

  it("a message takes only the sender's complete attachments that no message carries yet", async () => {
    const [a, b] = [await newAccount(h), await newAccount(h)];
    const ab = await direct(h, a, b);
    const mine = await upload(a);
    const theirs = await upload(b);
    const bad = await send(h, a, ab, "x", { attachment_ids: [mine.id, theirs.id] });
    expect(bad.res.status).toBe(400);
    expect(Object.keys(bad.res.body.fields)).toEqual(["attachment_ids.1"]);
    const twice = await send(h, a, ab, "x", { attachment_ids: [mine.id, mine.id] });
    expect(twice.res.status).toBe(400);
    expect(twice.res.body.fields).toHaveProperty("attachment_ids.1");
    // Refused sends left it free: it goes with the next message, and with that one only.
    expect((await send(h, a, ab, "ok", { attachment_ids: [mine.id] })).res.status).toBe(201);
    const again = await send(h, a, ab, "again", { attachment_ids: [mine.id] });
    expect(again.res.status).toBe(400);
    expect(again.res.body.fields).toHaveProperty("attachment_ids.0");
    const open = await call(a, "POST", "/attachments/uploads", { size: 10 });
    const unfinished = await send(h, a, ab, "x", { attachment_ids: [open.body.id] });
    expect(unfinished.res.status).toBe(400);
  });

  it("in a group: a member who leaves loses it, one who joins later never has it, the last out erases it", async () => {
    const [a, b, c, later] = [
      await newAccount(h),
      await newAccount(h),
      await newAccount(h),
      await newAccount(h),
    ];
    const g = await group(h, a, [b, c]);
    const { id } = await upload(a);
    expect((await send(h, a, g, "the plan", { attachment_ids: [id] })).res.status).toBe(201);
    expect((await fetchAs(c, id)).status).toBe(200);
    expect((await call(c, "POST", `/conversations/${g}/leave`)).status).toBe(204);
    expect((await fetchAs(c, id)).status).toBe(404);
    expect((await call(a, "POST", `/conversations/${g}/members`, { user_id: later.userId })).status).toBe(
      201,
    );
    expect((await fetchAs(later, id)).status).toBe(404);
    expect((await fetchAs(b, id)).status).toBe(200);

    for (const d of [later, b, a])
      expect((await call(d, "POST", `/conversations/${g}/leave`)).status).toBe(204);
    expect(await stored(id)).toEqual({ doc: false, chunks: 0 });
  });

  it("someone the uploader has blocked gets 404, and has it back once unblocked", async () => {
    const [a, b, c] = [await newAccount(h), await newAccount(h), await newAccount(h)];
    const g = await group(h, a, [b, c]);
    const { id } = await upload(a);
    await send(h, a, g, "look", { attachment_ids: [id] });
    expect((await call(a, "POST", `/users/${c.userId}/block`)).status).toBe(204);
    expect((await fetchAs(c, id)).status).toBe(404);
    expect((await fetchAs(b, id)).status).toBe(200);
    expect((await call(a, "DELETE", `/users/${c.userId}/block`)).status).toBe(204);
    expect((await fetchAs(c, id)).status).toBe(200);
  });

  it("delete for everyone erases the message's attachments with their chunks", async () => {
    const [a, b] = [await newAccount(h), await newAccount(h)];
    const ab = await direct(h, a, b);
    const one = await upload(a);
    const two = await upload(a);
    const kept = await upload(a);
    const { res } = await send(h, a, ab, "two files", { attachment_ids: [one.id, two.id] });
    await send(h, a, ab, "another", { attachment_ids: [kept.id] });
    expect(await stored(one.id)).toEqual({ doc: true, chunks: 3 });
    const del = await call(a, "DELETE", `/messages/${res.body.id}`, { delete_for_everyone: true });
    expect(del.status).toBe(200);
    expect(await stored(one.id)).toEqual({ doc: false, chunks: 0 });
    expect(await stored(two.id)).toEqual({ doc: false, chunks: 0 });
    expect((await fetchAs(b, one.id)).status).toBe(404);
    expect(await stored(kept.id)).toEqual({ doc: true, chunks: 3 });
  });

  it("a disappearing message takes its attachments with it when it expires", async () => {
    const [a, b] = [await newAccount(h), await newAccount(h)];
    const ab = await direct(h, a, b);
    const gone = await upload(a);
    const kept = await upload(a);
    await send(h, a, ab, "for a minute", { attachment_ids: [gone.id], ttl_seconds: 60 });
    await send(h, a, ab, "for good", { attachment_ids: [kept.id] });
    h.clock.advance(61);
    expect((await fetchAs(b, gone.id)).status).toBe(404);
    await sweepOnce(h.deps);
    expect(await stored(gone.id)).toEqual({ doc: false, chunks: 0 });
    expect(await stored(kept.id)).toEqual({ doc: true, chunks: 3 });
  });

  it("a view-once message's attachments go once every recipient device has opened it", async () => {
    const [a, b] = [await newAccount(h), await newAccount(h)];
    const ab = await direct(h, a, b);
    const { id } = await upload(a);
    const { res } = await send(h, a, ab, "once", { attachment_ids: [id], view_once: true });
    expect(res.status).toBe(201);
    expect(await stored(id)).toEqual({ doc: true, chunks: 3 });
    expect((await call(b, "POST", `/messages/${res.body.id}/open`)).status).toBe(200);
    expect(await stored(id)).toEqual({ doc: false, chunks: 0 });
  });

  it("a sent attachment does not expire; an unsent one does", async () => {
    const [a, b] = [await newAccount(h), await newAccount(h)];
    const ab = await direct(h, a, b);
    const sent = await upload(a);
    const unsent = await upload(a);
    await send(h, a, ab, "keep", { attachment_ids: [sent.id] });
    h.clock.advance(h.deps.config.ATTACHMENT_TTL + 60);
    await sweepOnce(h.deps);
    expect(await stored(sent.id)).toEqual({ doc: true, chunks: 3 });
    expect(await stored(unsent.id)).toEqual({ doc: false, chunks: 0 });
  });

  it("account deletion erases the account's uploads, those its messages carry included", async () => {
    const [a, b] = [await newAccount(h), await newAccount(h)];
    const ab = await direct(h, a, b);
    const sent = await upload(a);
    const theirs = await upload(b);
    await send(h, a, ab, "bye", { attachment_ids: [sent.id] });
    await send(h, b, ab, "hi", { attachment_ids: [theirs.id] });
    expect((await call(a, "DELETE", "/users/me")).status).toBe(204);
    expect(await stored(sent.id)).toEqual({ doc: false, chunks: 0 });
    expect(await stored(theirs.id)).toEqual({ doc: true, chunks: 3 });
  });
  it("a view-once message nobody opens loses its attachments at the cap", async () => {
    const [a, b] = [await newAccount(h), await newAccount(h)];
    const ab = await direct(h, a, b);
    const { id } = await upload(a);
    await send(h, a, ab, "unopened", { view_once: true, attachment_ids: [id] });
    h.clock.advance(h.deps.config.VIEW_ONCE_CAP_SECONDS + 1);
    await sweepOnce(h.deps);
    expect(await stored(id)).toEqual({ doc: false, chunks: 0 });
  });
});
