import { once } from "node:events";
import { connect } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { MAX_JSON_DEPTH } from "../../src/http/body.js";
import { freshIp, type Hush, signUp, startHush } from "../helpers/hush.js";

let h: Hush;
beforeAll(async () => {
  h = await startHush(); // MAX_BODY_BYTES 1 MiB and PUBLIC_BODY_BYTES 16 KiB, the defaults
});
afterAll(() => h?.close());

/** Lengths of every string JSON.parse is given in this process, which runs the server too. */
function watchParse() {
  const lengths: number[] = [];
  const parse = JSON.parse;
  vi.spyOn(JSON, "parse").mockImplementation((text, reviver) => {
    lengths.push(String(text).length);
    return parse(text, reviver);
  });
  return lengths;
}
afterEach(() => vi.restoreAllMocks());

const nested = (depth: number) => `${"[".repeat(depth)}${"]".repeat(depth)}`;

describe("request bodies", () => {
  it("an authenticated route without a token answers 401 before its body is read", async () => {
    // Announce a nearly 1 MiB nested body, send a sixteenth of it, and wait: a server that read
    // (or parsed) bodies before authenticating would wait for the rest, which never comes.
    const bomb = nested(500_000);
    const socket = connect(Number(new URL(h.url).port), "127.0.0.1");
    socket.on("error", () => {});
    let text = "";
    socket.on("data", (c) => {
      text += c;
    });
    socket.write(
      "PUT /api/v1/keys HTTP/1.1\r\nHost: hush\r\nContent-Type: application/json\r\n" +
        `Content-Length: ${bomb.length}\r\n\r\n${bomb.slice(0, 64 * 1024)}`,
    );
    const answered = new Promise<void>((resolve) => {
      socket.on("data", () => {
        if (text.includes("\r\n\r\n")) resolve();
      });
    });
    await Promise.race([
      answered,
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error("no answer: the body is awaited")), 5_000),
      ),
    ]);
    expect(text).toMatch(/^HTTP\/1\.1 401 /);
    expect(text).toMatch(/\r\nconnection: close\r\n/i); // and the unread rest goes with the connection
    await once(socket, "close");
  });

  it("a depth bomb to a public route is refused without reaching JSON.parse", async () => {
    const lengths = watchParse();
    const bomb = nested(7_000); // 14 000 bytes, inside the public limit
    const r = await h.req("POST", "/api/v1/auth/signup", {
      raw: bomb,
      headers: { "content-type": "application/json", "x-forwarded-for": freshIp() },
    });
    expect(r).toMatchObject({
      status: 400,
      body: { code: "VALIDATION_ERROR", fields: { body: expect.stringContaining(String(MAX_JSON_DEPTH)) } },
    });
    expect(lengths.filter((n) => n >= bomb.length)).toEqual([]);
  });

  it("an authenticated route takes nesting up to the limit and refuses one level more", async () => {
    const a = await signUp(h);
    const lengths = watchParse();
    const deep = `{"bio": ${nested(MAX_JSON_DEPTH - 1)}}`;
    const tooDeep = `{"bio": ${nested(MAX_JSON_DEPTH)}}`;
    const patch = (raw: string) =>
      h.req("PATCH", "/api/v1/users/me", {
        raw,
        token: a.token,
        headers: { "content-type": "application/json" },
      });
    expect(await patch(deep)).toMatchObject({ status: 400, body: { fields: { bio: expect.any(String) } } });
    expect(await patch(tooDeep)).toMatchObject({
      status: 400,
      body: { fields: { body: expect.any(String) } },
    });
    expect(lengths).toContain(deep.length);
    expect(lengths).not.toContain(tooDeep.length);
  });

  it("public routes take small bodies; authenticated ones read up to MAX_BODY_BYTES", async () => {
    const big = JSON.stringify({ email: "a@example.com", bio: "x".repeat(20_000) });
    const open = await h.req("POST", "/api/v1/auth/login", {
      raw: big,
      headers: { "content-type": "application/json", "x-forwarded-for": freshIp() },
    });
    expect(open).toMatchObject({ status: 413, body: { code: "PAYLOAD_TOO_LARGE" } });
    const a = await signUp(h);
    const authed = await h.req("PATCH", "/api/v1/users/me", {
      token: a.token,
      body: { bio: "x".repeat(20_000) },
    });
    expect(authed).toMatchObject({ status: 400, body: { fields: { bio: expect.any(String) } } });
  });

  it("a body past the limit that announces no length is cut off while it streams", async () => {
    const chunks = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new TextEncoder().encode(`{"email": "${"a".repeat(40_000)}`));
        c.close();
      },
    });
    const res = await fetch(`${h.url}/api/v1/auth/signup`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-forwarded-for": freshIp() },
      body: chunks,
      duplex: "half",
    } as RequestInit);
    expect(res.status).toBe(413);
  });
});
