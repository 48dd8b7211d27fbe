import { request } from "node:http";
import { connect } from "node:net";
import { ObjectId } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHUNK_SIZE } from "../../src/attachments/chunks.js";
import { sweepOnce } from "../../src/jobs/jobs.js";
import {
  answered,
  answeredCount,
  binaryFetch,
  bytesOf,
  formOf,
  pseudoRandom,
  sha256,
  streamOf,
} from "../helpers/attachments.js";
import { type Account, type Hush, signUp, startHush } from "../helpers/hush.js";

const MiB = 1024 * 1024;
let h: Hush;
beforeAll(async () => {
  h = await startHush({ ATTACHMENT_MAX_BYTES: String(MiB), ATTACHMENT_QUOTA_BYTES: String(3 * MiB) });
});
afterAll(() => h?.close());

const api = (path: string) => `${h.url}/api/v1${path}`;
const upload = (token: string, body: BodyInit) =>
  binaryFetch(h.check, api("/attachments"), {
    method: "POST",
    token,
    body,
    ...(body instanceof FormData ? {} : { headers: { "content-type": "application/octet-stream" } }),
  });

/** What the store holds for a user: attachment documents, and chunks of those or of any id given. */
async function stored(userId: string, ids: string[] = []) {
  const docs = await h
    .raw("attachments")
    .find({ uploader_id: new ObjectId(userId) })
    .toArray();
  const all = [...new Set([...ids, ...docs.map((d) => d._id.toHexString())])];
  let chunks = 0;
  for (const id of all) {
    chunks += await h.raw("attachment_chunks").countDocuments({ _id: { $regex: `^${id}:` } } as object);
  }
  return { docs: docs.length, chunks };
}

const answeredUploads = () => answeredCount(h, "/api/v1/attachments");

/** A new access token after the clock moved past the last one's expiry (the refresh token lasts longer). */
async function freshToken(a: Account) {
  const r = await h.req("POST", "/api/v1/auth/refresh", { body: { refresh_token: a.refresh } });
  if (r.status !== 200) throw new Error(`refresh ${r.status}`);
  a.refresh = r.body.refresh_token;
  return r.body.session_token as string;
}

/** A raw HTTP/1.1 exchange on its own socket: what the server answers, while we may still be sending. */
function rawExchange(head: string, body: (write: (b: Buffer) => boolean) => Promise<void> | void) {
  const { port } = new URL(h.url);
  return new Promise<string>((resolve) => {
    const socket = connect(Number(port), "127.0.0.1");
    let answer = "";
    socket.on("data", (d) => {
      answer += d.toString("latin1");
    });
    socket.on("error", () => {});
    socket.on("close", () => resolve(answer));
    socket.write(head);
    Promise.resolve(body((b) => socket.write(b))).catch(() => {});
  });
}

describe("attachments: size cap", () => {
  let a: Account;
  beforeAll(async () => {
    a = await signUp(h);
  });

  it("refuses a Content-Length over the cap before reading any of the body", async () => {
    const answer = await rawExchange(
      `POST /api/v1/attachments HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${a.token}\r\n` +
        `Content-Type: application/octet-stream\r\nContent-Length: ${200 * MiB}\r\n\r\n`,
      () => {}, // not one byte of the body is sent: the answer must come anyway
    );
    expect(answer).toMatch(/^HTTP\/1\.1 413 /);
    expect(answer).toMatch(/\r\nconnection: close\r\n/i);
    expect(answer).toContain('"code":"PAYLOAD_TOO_LARGE"');
    expect(await stored(a.id)).toEqual({ docs: 0, chunks: 0 });
  });

  it("authenticates before reading a byte of the body", async () => {
    const answer = await rawExchange(
      "POST /api/v1/attachments HTTP/1.1\r\nHost: x\r\n" +
        `Content-Type: application/octet-stream\r\nContent-Length: ${MiB}\r\n\r\n`,
      () => {},
    );
    expect(answer).toMatch(/^HTTP\/1\.1 401 /);
    expect(answer).toMatch(/\r\nconnection: close\r\n/i);
  });

  it("cuts off a chunked body that runs past the cap, and keeps nothing of it", async () => {
    const before = answeredUploads();
    const r = await upload(a.token, streamOf(pseudoRandom(3 * MiB, "over")));
    expect(r.status).toBe(413);
    expect(r.body.code).toBe("PAYLOAD_TOO_LARGE");
    await answered(h, "/api/v1/attachments", before + 1);
    expect(await stored(a.id)).toEqual({ docs: 0, chunks: 0 });
  });

  it("cuts off a multipart form whose file runs past the cap", async () => {
    const r = await upload(a.token, formOf(bytesOf(MiB + 1)));
    expect(r.status).toBe(413);
    expect(await stored(a.id)).toEqual({ docs: 0, chunks: 0 });
  });

  it("takes no more than a lying Content-Length announced: the excess is never part of the upload", async () => {
    const data = bytesOf(2 * MiB, "liar"); // twice the cap, announced as 1000 bytes
    const { port } = new URL(h.url);
    const socket = connect(Number(port), "127.0.0.1");
    let answer = "";
    socket.on("data", (d) => {
      answer += d.toString("latin1");
    });
    socket.on("error", () => {});
    const closed = new Promise((resolve) => socket.on("close", resolve));
    socket.write(
      `POST /api/v1/attachments HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${a.token}\r\n` +
        "Content-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\n",
    );
    socket.write(data.subarray(0, 1000));
    while (!answer.includes("}")) await new Promise((r) => setTimeout(r, 10));
    socket.write(data.subarray(1000)); // the rest is read as a next request, which is malformed
    await closed;
    expect(answer).toMatch(/^HTTP\/1\.1 201 /);
    const created = JSON.parse(answer.slice(answer.indexOf("{"), answer.indexOf("}") + 1));
    expect(created).toMatchObject({ size: 1000, sha256: sha256(data.subarray(0, 1000)) });
    expect(answer).toMatch(/HTTP\/1\.1 400 Bad Request/);
    expect(await stored(a.id)).toEqual({ docs: 1, chunks: 1 });
    await binaryFetch(h.check, api(`/attachments/${created.id}`), { method: "DELETE", token: a.token });
  });

  it("accepts exactly the cap", async () => {
    const r = await upload(a.token, bytesOf(MiB, "exact"));
    expect(r.status).toBe(201);
    await binaryFetch(h.check, api(`/attachments/${r.body.id}`), { method: "DELETE", token: a.token });
  });
});

describe("attachments: an interrupted upload leaves nothing behind", () => {
  it("erases the chunks of a raw upload whose client goes away", async () => {
    const a = await signUp(h);
    const before = answeredUploads();
    await new Promise<void>((resolve) => {
      const req = request(api("/attachments"), {
        method: "POST",
        headers: {
          authorization: `Bearer ${a.token}`,
          "content-type": "application/octet-stream",
          "content-length": String(MiB),
        },
      });
      req.on("error", () => resolve());
      req.write(bytesOf(3 * CHUNK_SIZE + 10), () => setTimeout(() => req.destroy(), 300));
    });
    await answered(h, "/api/v1/attachments", before + 1);
    expect(await stored(a.id)).toEqual({ docs: 0, chunks: 0 });
  });

  it("erases the chunks of a multipart upload whose client goes away", async () => {
    const a = await signUp(h);
    const before = answeredUploads();
    const boundary = "----hushtest";
    const head = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="x"\r\nContent-Type: application/octet-stream\r\n\r\n`;
    await new Promise<void>((resolve) => {
      const req = request(api("/attachments"), {
        method: "POST",
        headers: {
          authorization: `Bearer ${a.token}`,
          "content-type": `multipart/form-data; boundary=${boundary}`,
          "content-length": String(MiB),
        },
      });
      req.on("error", () => resolve());
      req.write(Buffer.concat([Buffer.from(head), bytesOf(3 * CHUNK_SIZE)]), () =>
        setTimeout(() => req.destroy(), 300),
      );
    });
    await answered(h, "/api/v1/attachments", before + 1);
    expect(await stored(a.id)).toEqual({ docs: 0, chunks: 0 });
  });
});

describe("attachments: quota", () => {
  it("refuses what would pass the quota with QUOTA_EXCEEDED, and frees room when one is deleted", async () => {
    const a = await signUp(h);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await upload(a.token, bytesOf(MiB, `q${i}`));
      expect(r.status).toBe(201);
      ids.push(r.body.id);
    }
    const over = await upload(a.token, bytesOf(10, "q3"));
    expect(over.status).toBe(409);
    expect(over.body.code).toBe("QUOTA_EXCEEDED");
    expect(over.body.detail).toContain(String(3 * MiB));
    const resumable = await h.req("POST", "/api/v1/attachments/uploads", {
      token: a.token,
      body: { size: 10 },
    });
    expect(resumable.body.code).toBe("QUOTA_EXCEEDED");
    expect((await stored(a.id)).docs).toBe(3);

    const del = await binaryFetch(h.check, api(`/attachments/${ids[0]}`), {
      method: "DELETE",
      token: a.token,
    });
    expect(del.status).toBe(204);
    expect(await stored(a.id, [ids[0]!])).toEqual({ docs: 2, chunks: 2 * Math.ceil(MiB / CHUNK_SIZE) });
    expect((await upload(a.token, bytesOf(10, "q4"))).status).toBe(201);
  });

  it("never lets concurrent uploads together pass the quota", async () => {
    // Each upload reserves, then counts, then undoes if over: safe, but when all six reserve
    // before any counts, all six are refused (docs/attachments.md, "Quota"). A burst that admits
    // none proves nothing, so bursts (each by a new account) go on until one admits some.
    let admitted = 0;
    for (let burst = 0; burst < 5 && admitted === 0; burst++) {
      const a = await signUp(h);
      const results = await Promise.all(
        Array.from({ length: 6 }, (_, i) => upload(a.token, bytesOf(MiB, `race${i}`))),
      );
      admitted = results.filter((r) => r.status === 201).length;
      expect(results.every((r) => r.status === 201 || r.body.code === "QUOTA_EXCEEDED")).toBe(true);
      expect(admitted).toBeLessThanOrEqual(3);
      const docs = await h
        .raw("attachments")
        .find({ uploader_id: new ObjectId(a.id) })
        .toArray();
      expect(docs.reduce((sum, d) => sum + d.size, 0)).toBeLessThanOrEqual(3 * MiB);
    }
    expect(admitted).toBeGreaterThan(0);
  });

  it("allows a bounded number of unfinished uploads", async () => {
    const a = await signUp(h);
    const open = () => h.req("POST", "/api/v1/attachments/uploads", { token: a.token, body: { size: 100 } });
    for (let i = 0; i < 10; i++) expect((await open()).status).toBe(201);
    const r = await open();
    expect(r.status).toBe(409);
    expect(r.body.code).toBe("QUOTA_EXCEEDED");
  });
});

describe("attachments: lifecycle", () => {
  it("erases an attachment no message owns, with its chunks, once ATTACHMENT_TTL has passed", async () => {
    const a = await signUp(h);
    const kept = await upload(a.token, bytesOf(2 * CHUNK_SIZE + 1, "young"));
    h.clock.advance(3600);
    const token = await freshToken(a);
    const old = await upload(token, bytesOf(2 * CHUNK_SIZE + 1, "old"));
    const unfinished = await h.req("POST", "/api/v1/attachments/uploads", { token, body: { size: 500 } });
    await binaryFetch(h.check, api(`/attachments/uploads/${unfinished.body.id}?offset=0`), {
      method: "PUT",
      token,
      body: bytesOf(500),
      headers: { "content-type": "application/octet-stream" },
    });
    expect(Date.parse(old.body.expires_at)).toBe(h.clock.now().getTime() + 86_400_000);
    const ids = [kept.body.id, old.body.id, unfinished.body.id];
    expect(await stored(a.id, ids)).toEqual({ docs: 3, chunks: 7 });

    h.clock.advance(86_400 - 3600 + 1); // past the first one's expiry only
    await sweepOnce(h.deps);
    expect(await stored(a.id, ids)).toEqual({ docs: 2, chunks: 4 });
    const later = await freshToken(a);
    expect((await binaryFetch(h.check, api(`/attachments/${kept.body.id}`), { token: later })).status).toBe(
      404,
    );
    expect((await binaryFetch(h.check, api(`/attachments/${old.body.id}`), { token: later })).status).toBe(
      200,
    );

    h.clock.advance(3600);
    await sweepOnce(h.deps);
    expect(await stored(a.id, ids)).toEqual({ docs: 0, chunks: 0 });
  });

  it("finishes erasing an attachment whose erasure was cut short", async () => {
    const a = await signUp(h);
    const r = await upload(a.token, bytesOf(3 * CHUNK_SIZE, "crash"));
    // As a crash would leave it: marked, some chunks gone, the document still there.
    await h
      .raw("attachments")
      .updateOne({ _id: new ObjectId(r.body.id) }, { $set: { state: "erasing", expires_at: h.clock.now() } });
    await h.raw("attachment_chunks").deleteOne({ _id: `${r.body.id}:0` } as object);
    expect((await binaryFetch(h.check, api(`/attachments/${r.body.id}`), { token: a.token })).status).toBe(
      404,
    );
    await sweepOnce(h.deps);
    expect(await stored(a.id, [r.body.id])).toEqual({ docs: 0, chunks: 0 });
  });

  it("erases an account's attachments and unfinished uploads when the account is deleted", async () => {
    const a = await signUp(h);
    const b = await signUp(h);
    const mine = await upload(a.token, bytesOf(2 * CHUNK_SIZE, "mine"));
    const open = await h.req("POST", "/api/v1/attachments/uploads", { token: a.token, body: { size: 900 } });
    const theirs = await upload(b.token, bytesOf(CHUNK_SIZE, "theirs"));
    await binaryFetch(h.check, api(`/attachments/uploads/${open.body.id}?offset=0`), {
      method: "PUT",
      token: a.token,
      body: bytesOf(900),
      headers: { "content-type": "application/octet-stream" },
    });
    expect((await h.req("DELETE", "/api/v1/users/me", { token: a.token })).status).toBe(204);
    expect(await stored(a.id, [mine.body.id, open.body.id])).toEqual({ docs: 0, chunks: 0 });
    expect(await stored(b.id, [theirs.body.id])).toEqual({ docs: 1, chunks: 1 });
  });

  it("lets only the uploader delete, and a deleted attachment is gone", async () => {
    const a = await signUp(h);
    const b = await signUp(h);
    const r = await upload(a.token, bytesOf(100, "del"));
    const del = (token: string) =>
      binaryFetch(h.check, api(`/attachments/${r.body.id}`), { method: "DELETE", token });
    expect((await del(b.token)).status).toBe(404);
    expect((await del(a.token)).status).toBe(204);
    expect((await del(a.token)).status).toBe(404);
    expect((await binaryFetch(h.check, api(`/attachments/${r.body.id}`), { token: a.token })).status).toBe(
      404,
    );
  });
});
