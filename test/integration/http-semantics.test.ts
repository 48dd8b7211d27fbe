import { once } from "node:events";
import http from "node:http";
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshIp, type Hush, signUp, startHush } from "../helpers/hush.js";

let h: Hush;
let agent: http.Agent;
beforeAll(async () => {
  h = await startHush({ MAX_BODY_BYTES: "2048" });
  // One keep-alive connection: every request goes over the same socket unless the server closes it.
  agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
});
afterAll(async () => {
  agent?.destroy();
  await h?.close();
});

interface Sent {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  reusedSocket: boolean;
}

/** One request through the shared keep-alive agent; resolves once the whole response has arrived. */
function send(method: string, path: string, body?: string, type = "application/json"): Promise<Sent> {
  return new Promise((resolve, reject) => {
    const headers: http.OutgoingHttpHeaders = { "x-forwarded-for": freshIp() };
    if (body !== undefined) Object.assign(headers, { "content-type": type, "content-length": body.length });
    const req = http.request(`${h.url}${path}`, { method, agent, headers }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk) => {
        text += chunk;
      });
      res.on("end", () =>
        resolve({
          status: res.statusCode!,
          headers: res.headers,
          body: text,
          reusedSocket: req.reusedSocket,
        }),
      );
    });
    // A server refusing a body may close while the rest is still being written; once the response
    // has arrived, that error rejects nothing.
    req.on("error", reject);
    req.end(body);
  });
}

describe("405 Method Not Allowed", () => {
  it("a wrong method on an existing path is a 405 whose Allow header lists the path's methods", async () => {
    const r = await h.req("POST", "/healthz");
    expect(r).toMatchObject({
      status: 405,
      body: { code: "METHOD_NOT_ALLOWED", detail: expect.any(String) },
    });
    expect(r.headers.get("allow")).toBe("GET, HEAD");

    const me = await h.req("PUT", "/api/v1/users/me");
    expect(me.status).toBe(405);
    expect(me.headers.get("allow")?.split(", ").sort()).toEqual(["DELETE", "GET", "HEAD", "PATCH"]);

    const user = await h.req("DELETE", "/api/v1/users/507f1f77bcf86cd799439011");
    expect(user.status).toBe(405);
    expect(user.headers.get("allow")).toBe("GET, HEAD");

    const signup = await h.req("GET", "/api/v1/auth/signup");
    expect(signup.status).toBe(405);
    expect(signup.headers.get("allow")).toBe("POST");
  });

  it("a literal path's other methods are a 405 listing its own methods, not its sibling {id} route's", async () => {
    // Before: GET /attachments/uploads reached GET /attachments/{attachment_id} ("must be a
    // 24-character hex id"), and Allow listed that route's methods, which always fail there.
    const { token } = await signUp(h);
    const cases: [string, string, string][] = [
      ["GET", "/api/v1/attachments/uploads", "POST"],
      ["DELETE", "/api/v1/attachments/uploads", "POST"],
      ["GET", "/api/v1/conversations/groups", "POST"],
      ["PATCH", "/api/v1/conversations/groups", "POST"],
      ["DELETE", "/api/v1/conversations/groups", "POST"],
      ["GET", "/api/v1/messages/read", "POST"],
      ["PATCH", "/api/v1/messages/read", "POST"],
      ["DELETE", "/api/v1/messages/read", "POST"],
    ];
    for (const [method, path, allow] of cases) {
      for (const auth of [undefined, token]) {
        const r = await h.req(method, path, { token: auth });
        expect(r.status, `${method} ${path}`).toBe(405);
        expect(r.body.code, `${method} ${path}`).toBe("METHOD_NOT_ALLOWED");
        expect(r.headers.get("allow"), `${method} ${path}`).toBe(allow);
      }
    }
  });

  it("answers 405 before asking for a token, as the route it would need does not exist", async () => {
    const r = await h.req("DELETE", "/api/v1/auth/me");
    expect(r.status).toBe(405);
    expect(r.headers.get("allow")).toBe("GET, HEAD");
  });

  it("HEAD works wherever GET does, and paths no route has are still 404", async () => {
    const head = await fetch(`${h.url}/healthz`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(await h.req("POST", "/api/v1/nothing-here")).toMatchObject({
      status: 404,
      body: { code: "NOT_FOUND" },
    });
    expect((await h.req("GET", "/docs/nothing-here")).status).toBe(404);
  });
});

describe("GET /users/me", () => {
  it("is the calling user, the same body as GET /auth/me, not a lookup of a user called 'me'", async () => {
    const a = await signUp(h);
    const r = await h.req("GET", "/api/v1/users/me", { token: a.token });
    expect(r.status).toBe(200);
    expect(r.body).toEqual((await h.req("GET", "/api/v1/auth/me", { token: a.token })).body);
    expect(r.body).toMatchObject({ id: a.id, email: a.email, username: a.username });
  });

  it("needs a token, and other ids still reach /users/{user_id}", async () => {
    const a = await signUp(h);
    const b = await signUp(h);
    expect((await h.req("GET", "/api/v1/users/me")).status).toBe(401);
    const other = await h.req("GET", `/api/v1/users/${b.id}`, { token: a.token });
    expect(other).toMatchObject({ status: 200, body: { id: b.id, username: b.username } });
  });

  it("is declared in the spec", async () => {
    const { body } = await h.req("GET", "/openapi.json");
    expect(body.paths["/api/v1/users/me"].get).toMatchObject({
      operationId: "getMe",
      security: [{ bearerAuth: [] }],
      responses: {
        200: { content: { "application/json": { schema: { $ref: "#/components/schemas/User" } } } },
      },
    });
  });
});

describe("connections after an unread request body", () => {
  it("a 413 says Connection: close, and the client's next request on a fresh connection succeeds", async () => {
    const big = JSON.stringify({ email: `${"a".repeat(1_000_000)}@example.com` });
    for (let i = 0; i < 5; i++) {
      const refused = await send("POST", "/api/v1/auth/signup", big);
      expect(refused.status).toBe(413);
      expect(JSON.parse(refused.body).code).toBe("PAYLOAD_TOO_LARGE");
      expect(refused.headers.connection).toBe("close");
      const next = await send("GET", "/healthz");
      expect(next).toMatchObject({ status: 200, reusedSocket: false });
    }
  });

  it("the server really closes the connection after such a response", async () => {
    const socket = connect(Number(new URL(h.url).port), "127.0.0.1");
    const body = "x".repeat(4000);
    socket.write(
      "POST /api/v1/auth/signup HTTP/1.1\r\nHost: hush\r\nContent-Type: application/json\r\n" +
        `Content-Length: ${body.length}\r\n\r\n${body}`,
      "utf8",
    );
    let text = "";
    socket.on("data", (chunk) => {
      text += chunk;
    });
    await once(socket, "close"); // without the server closing, this never comes and the test times out
    expect(text).toMatch(/^HTTP\/1\.1 413 /);
    expect(text).toMatch(/\r\nConnection: close\r\n/i);
  });

  it("a 415 leaves its body unread too and says Connection: close", async () => {
    const r = await send("POST", "/api/v1/auth/signup", "email=a@example.com", "text/plain");
    expect(r).toMatchObject({ status: 415, headers: { connection: "close" } });
    expect((await send("GET", "/healthz")).status).toBe(200);
  });

  it("a request whose body was read keeps the connection alive", async () => {
    await send("GET", "/healthz"); // opens the agent's one connection
    const r = await send("POST", "/api/v1/auth/login", JSON.stringify({ email: "nobody@example.com" }));
    expect(r).toMatchObject({ status: 200, reusedSocket: true, headers: { connection: "keep-alive" } });
    expect((await send("GET", "/healthz")).reusedSocket).toBe(true);
  });
});
