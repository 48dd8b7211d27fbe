import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHUNK_SIZE } from "../../src/attachments/chunks.js";
import {
  answered,
  answeredCount,
  type BinaryRes,
  binaryFetch,
  bytesOf,
  formOf,
  pseudoRandom,
  sha256,
  streamOf,
} from "../helpers/attachments.js";
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

describe("attachments: ranges", () => {
  const size = 3 * CHUNK_SIZE + 1000;
  const data = bytesOf(size, "ranges");
  const etag = `"${sha256(data)}"`;
  let id: string;
  beforeAll(async () => {
    id = (await upload(alice.token, data)).body.id;
  });
  const range = (spec: string, extra: Record<string, string> = {}) =>
    download(alice.token, id, { range: spec, ...extra });

  it("serves the first bytes, a middle range and a suffix, each with its Content-Range", async () => {
    for (const [spec, start, end] of [
      ["bytes=0-99", 0, 99],
      ["bytes=1000-1999", 1000, 1999],
      ["bytes=-500", size - 500, size - 1],
      ["bytes=5000-", 5000, size - 1],
      ["bytes=10-99999999999", 10, size - 1],
    ] as const) {
      const r = await range(spec);
      expect(r.status, spec).toBe(206);
      expect(r.headers.get("content-range"), spec).toBe(`bytes ${start}-${end}/${size}`);
      expect(r.headers.get("content-length"), spec).toBe(String(end - start + 1));
      expect(r.headers.get("etag"), spec).toBe(etag);
      expect(r.bytes.equals(data.subarray(start, end + 1)), spec).toBe(true);
    }
  });

  it("serves a range spanning several stored chunks", async () => {
    const start = CHUNK_SIZE - 10;
    const end = 3 * CHUNK_SIZE + 10;
    const r = await range(`bytes=${start}-${end}`);
    expect(r.status).toBe(206);
    expect(r.bytes.equals(data.subarray(start, end + 1))).toBe(true);
  });

  it("serves several ranges as multipart/byteranges, overlapping ones merged", async () => {
    const r = await range("bytes=0-9, 2000-2009, 5-14, -5");
    expect(r.status).toBe(206);
    const type = r.headers.get("content-type")!;
    expect(type).toMatch(/^multipart\/byteranges; boundary=/);
    expect(r.headers.get("content-length")).toBe(String(r.bytes.length));
    const boundary = type.split("boundary=")[1]!;
    const parts = r.bytes
      .toString("latin1")
      .split(`--${boundary}`)
      .slice(1, -1)
      .map((p) => {
        const [head, body] = p.split("\r\n\r\n");
        return { range: /Content-Range: bytes (\d+)-(\d+)\/(\d+)/.exec(head!)!.slice(1).map(Number), body };
      });
    expect(parts.map((p) => p.range)).toEqual([
      [0, 14, size],
      [2000, 2009, size],
      [size - 5, size - 1, size],
    ]);
    for (const {
      range: [s, e],
      body,
    } of parts) {
      expect(Buffer.from(body!.replace(/\r\n$/, ""), "latin1").equals(data.subarray(s, e! + 1))).toBe(true);
    }
  });

  it("answers 416 with the size in Content-Range for unsatisfiable or malformed ranges", async () => {
    for (const spec of [
      `bytes=${size}-`,
      `bytes=${size + 10}-${size + 20}`,
      "bytes=-0",
      "bytes=9-3",
      "bytes=abc",
    ]) {
      const r = await range(spec);
      expect(r.status, spec).toBe(416);
      expect(r.body.code, spec).toBe("RANGE_NOT_SATISFIABLE");
      expect(r.headers.get("content-range"), spec).toBe(`bytes */${size}`);
    }
    const many = Array.from({ length: 17 }, (_, i) => `${i * 10}-${i * 10 + 1}`).join(",");
    expect((await range(`bytes=${many}`)).status).toBe(416);
  });

  it("answers HEAD with the headers alone", async () => {
    const r = await fetch(api(`/attachments/${id}`), {
      method: "HEAD",
      headers: { authorization: `Bearer ${alice.token}` },
    });
    expect(r.status).toBe(200);
    expect(r.headers.get("content-length")).toBe(String(size));
    expect(r.headers.get("etag")).toBe(etag);
    expect((await r.arrayBuffer()).byteLength).toBe(0);
  });

  it("sends the whole attachment when If-Range is not its ETag, or the unit is not bytes", async () => {
    const stale = await range("bytes=0-9", { "if-range": '"0000"' });
    expect(stale.status).toBe(200);
    expect(stale.bytes.length).toBe(size);
    const fresh = await range("bytes=0-9", { "if-range": etag });
    expect(fresh.status).toBe(206);
    expect((await range("items=0-9")).status).toBe(200);
  });
});

describe("attachments: resumable uploads", () => {
  const status = (token: string, id: string) =>
    binaryFetch(h.check, api(`/attachments/uploads/${id}`), { token });
  const put = (token: string, id: string, offset: number, body: BodyInit) =>
    binaryFetch(h.check, api(`/attachments/uploads/${id}?offset=${offset}`), {
      method: "PUT",
      token,
      body,
      headers: { "content-type": "application/octet-stream" },
    });
  const complete = (token: string, id: string) =>
    binaryFetch(h.check, api(`/attachments/uploads/${id}/complete`), { method: "POST", token });
  const open = (token: string, size: number) =>
    h.req("POST", "/api/v1/attachments/uploads", { token, body: { size } });

  it("resumes after an interrupted part: whole chunks that arrived are kept, the rest is sent again", async () => {
    const size = 6 * CHUNK_SIZE + 4321;
    const data = bytesOf(size, "resumable");
    const opened = await open(alice.token, size);
    expect(opened.status).toBe(201);
    expect(opened.body).toMatchObject({ size, chunk_size: CHUNK_SIZE, received_bytes: 0, complete: false });
    expect(opened.body.missing).toEqual([{ offset: 0, length: size }]);
    const id = opened.body.id;

    // The phone sends the first 2.5 chunks and loses the network (the body ends short of its length).
    const route = "/api/v1/attachments/uploads/:upload_id";
    const before = answeredCount(h, route);
    const cut = await cutOff(
      h.url,
      `/api/v1/attachments/uploads/${id}?offset=0`,
      alice.token,
      data,
      2.5 * CHUNK_SIZE,
    );
    expect(cut).toBe("closed");
    await answered(h, route, before + 1);
    const after = await status(alice.token, id);
    expect(after.body.received_bytes).toBe(2 * CHUNK_SIZE);
    expect(after.body.missing).toEqual([{ offset: 2 * CHUNK_SIZE, length: size - 2 * CHUNK_SIZE }]);
    expect((await complete(alice.token, id)).body.code).toBe("INVALID_STATE");

    // Then resumes out of order: the tail first, then the middle; a chunk sent twice is fine.
    expect((await put(alice.token, id, 5 * CHUNK_SIZE, data.subarray(5 * CHUNK_SIZE))).status).toBe(200);
    const mid = await put(alice.token, id, CHUNK_SIZE, data.subarray(CHUNK_SIZE, 5 * CHUNK_SIZE));
    expect(mid.status).toBe(200);
    expect(mid.body).toMatchObject({ received_bytes: size, missing: [] });
    const done = await complete(alice.token, id);
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ id, size, sha256: sha256(data) });
    expect((await complete(alice.token, id)).body).toEqual(done.body);
    const down = await download(alice.token, id);
    expect(down.bytes.equals(data)).toBe(true);
  });

  it("refuses misaligned offsets, parts past the end, changed bytes and other people's uploads", async () => {
    const size = 2 * CHUNK_SIZE;
    const data = bytesOf(size, "strict");
    const { id } = (await open(alice.token, size)).body;
    expect((await put(alice.token, id, 100, data.subarray(100))).body.fields).toHaveProperty("offset");
    expect((await put(alice.token, id, 0, bytesOf(size + 1, "strict"))).status).toBe(413);
    expect((await put(alice.token, id, 0, data.subarray(0, 1000))).body.code).toBe("VALIDATION_ERROR");
    expect((await put(alice.token, id, 0, data.subarray(0, CHUNK_SIZE))).status).toBe(200);
    const changed = Buffer.from(data.subarray(0, CHUNK_SIZE));
    changed[0]! ^= 1;
    expect((await put(alice.token, id, 0, changed)).body.code).toBe("INVALID_STATE");
    expect((await put(bob.token, id, CHUNK_SIZE, data.subarray(CHUNK_SIZE))).status).toBe(404);
    expect((await status(bob.token, id)).status).toBe(404);
    expect((await complete(bob.token, id)).status).toBe(404);
    expect((await download(alice.token, id)).status).toBe(404); // not complete yet
  });

  it("refuses an upload larger than the cap when it is opened", async () => {
    const r = await open(alice.token, h.deps.config.ATTACHMENT_MAX_BYTES + 1);
    expect(r.status).toBe(413);
    expect(r.body.fields).toHaveProperty("size");
  });
});

/**
 * Sends `total` bytes' worth of Content-Length but only `send` bytes, then closes: a phone losing
 * its network mid-upload. Resolves "closed" once the server has seen the connection go.
 */
async function cutOff(base: string, path: string, token: string, data: Buffer, send: number) {
  const { request } = await import("node:http");
  return new Promise<string>((resolve) => {
    const req = request(`${base}${path}`, {
      method: "PUT",
      headers: {
        authorization: `Bearer ${token}`,
        "content-type": "application/octet-stream",
        "content-length": String(data.length),
      },
    });
    req.on("error", () => resolve("closed"));
    req.on("response", (res) => {
      res.resume();
      resolve(`answered ${res.statusCode}`);
    });
    req.write(data.subarray(0, send), () => {
      setTimeout(() => req.destroy(), 200);
    });
  });
}
