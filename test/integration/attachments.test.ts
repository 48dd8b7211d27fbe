import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHUNK_SIZE } from "../../src/attachments/chunks.js";
import { type BinaryRes, binaryFetch, bytesOf, formOf, sha256, streamOf, pseudoRandom } from "../helpers/attachments.js";
import { type Account, type Hush, signUp, startHush } from "../helpers/hush.js";

let h: Hush;
let alice: Account;
let bob: Account;
beforeAll(async () => {
  h = await startHush();
  [alice, bob] = await Promise.all([signUp(h), signUp(h)]);
});
afterAll(() => h?.close());

const api = (path: string) => `${h.url}/api/v1${path}`;
const upload = (token: string, body: BodyInit, headers: Record<string, string> = {}) =>
  binaryFetch(h.check, api("/attachments"), {
    method: "POST",
    token,
    body,
    headers: body instanceof FormData ? headers : { "content-type": "application/octet-stream", ...headers },
  });
const download = (token: string, id: string, headers: Record<string, string> = {}) =>
  binaryFetch(h.check, api(`/attachments/${id}`), { token, headers });

function expectStored(res: BinaryRes, data: Buffer) {
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  expect(res.body).toMatchObject({ size: data.length, sha256: sha256(data) });
  expect(res.body.id).toMatch(/^[0-9a-f]{24}$/);
}

describe("attachments: one-request uploads", () => {
  it("round-trips a multi-megabyte raw upload, byte for byte, with its digest as ETag", async () => {
    const data = bytesOf(5 * 1024 * 1024 + 123, "raw");
    const up = await upload(alice.token, data);
    expectStored(up, data);
    const down = await download(alice.token, up.body.id);
    expect(down.status).toBe(200);
    expect(down.headers.get("content-type")).toBe("application/octet-stream");
    expect(down.headers.get("content-length")).toBe(String(data.length));
    expect(down.headers.get("etag")).toBe(`"${sha256(data)}"`);
    expect(down.headers.get("accept-ranges")).toBe("bytes");
    expect(sha256(down.bytes)).toBe(sha256(data));
  });

  it("round-trips a multi-megabyte multipart/form-data upload (the `file` part; other fields ignored)", async () => {
    const data = bytesOf(3 * 1024 * 1024 + 7, "form");
    const up = await upload(alice.token, formOf(data, { media_type: "video" }));
    expectStored(up, data);
    const down = await download(alice.token, up.body.id);
    expect(sha256(down.bytes)).toBe(sha256(data));
  });

  it("takes a chunked body of unannounced length", async () => {
    const size = 2 * CHUNK_SIZE + 5;
    const up = await upload(alice.token, streamOf(pseudoRandom(size, "chunked")));
    expectStored(up, bytesOf(size, "chunked"));
  });

  it("refuses an empty body, a form without a file part and other media types", async () => {
    expect((await upload(alice.token, Buffer.alloc(0))).body.code).toBe("VALIDATION_ERROR");
    const form = new FormData();
    form.append("note", "no file here");
    const noFile = await upload(alice.token, form);
    expect(noFile.status).toBe(400);
    expect(noFile.body.fields).toHaveProperty("file");
    const text = await upload(alice.token, "hello", { "content-type": "text/plain" });
    expect(text.status).toBe(415);
    expect(text.body.code).toBe("UNSUPPORTED_MEDIA_TYPE");
  });

  it("needs a token, and shows an attachment only to its uploader", async () => {
    const data = bytesOf(1000, "private");
    expect((await upload("", data)).status).toBe(401);
    const up = await upload(alice.token, data);
    expect((await download(bob.token, up.body.id)).status).toBe(404);
    expect((await download(bob.token, "0123456789abcdef01234567")).status).toBe(404);
    expect((await download(alice.token, "nope")).status).toBe(400);
  });
});
