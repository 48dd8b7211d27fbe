import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshIp, type Hush, signUp, startHush } from "../helpers/hush.js";

let h: Hush;
beforeAll(async () => {
  h = await startHush({ MAX_BODY_BYTES: "2048" });
});
afterAll(() => h?.close());

const signup = "/api/v1/auth/signup";
const ip = () => ({ "x-forwarded-for": freshIp() });

describe("error shapes", () => {
  it("malformed JSON is a 400 INVALID_JSON", async () => {
    const r = await h.req("POST", signup, {
      raw: '{"email":',
      headers: { "content-type": "application/json" },
    });
    expect(r).toMatchObject({ status: 400, body: { code: "INVALID_JSON", detail: expect.any(String) } });
  });

  it("a body that is not JSON is a 415", async () => {
    const r = await h.req("POST", signup, { raw: "email=a@b.c", headers: { "content-type": "text/plain" } });
    expect(r).toMatchObject({ status: 415, body: { code: "UNSUPPORTED_MEDIA_TYPE" } });
  });

  it("a missing body where one is required is a 400 naming the body", async () => {
    const r = await h.req("POST", signup, { headers: ip() });
    expect(r.status).toBe(400);
    expect(r.body.code).toBe("VALIDATION_ERROR");
  });

  it("a bad field is a 400 VALIDATION_ERROR whose fields name it", async () => {
    const r = await h.req("POST", signup, { body: { email: "not-an-email" }, headers: ip() });
    expect(r).toMatchObject({
      status: 400,
      body: { code: "VALIDATION_ERROR", fields: { email: expect.any(String) } },
    });
  });

  it("nested bad fields are named by their path", async () => {
    const a = await signUp(h);
    const r = await h.req("PATCH", "/api/v1/users/me", {
      token: a.token,
      body: { privacy: { show_online_status: "yes" }, mobile: "12345" },
    });
    expect(r.status).toBe(400);
    expect(Object.keys(r.body.fields).sort()).toEqual(["mobile", "privacy.show_online_status"]);
  });

  it("an unknown route is a 404 NOT_FOUND, with or without a token", async () => {
    expect(await h.req("GET", "/api/v1/does-not-exist")).toMatchObject({
      status: 404,
      body: { code: "NOT_FOUND" },
    });
    expect(await h.req("DELETE", "/nothing/here")).toMatchObject({
      status: 404,
      body: { code: "NOT_FOUND" },
    });
  });

  it("an oversized body is a 413 PAYLOAD_TOO_LARGE", async () => {
    const r = await h.req("POST", signup, {
      body: { email: `${"a".repeat(4000)}@example.com` },
      headers: ip(),
    });
    expect(r).toMatchObject({ status: 413, body: { code: "PAYLOAD_TOO_LARGE" } });
  });

  it("an invalid id in a path is a 400 naming the parameter", async () => {
    const a = await signUp(h);
    const r = await h.req("GET", "/api/v1/users/not-an-id", { token: a.token });
    expect(r).toMatchObject({
      status: 400,
      body: { code: "VALIDATION_ERROR", fields: { user_id: expect.any(String) } },
    });
  });

  it("a protected route without a token is a 401 in HABIBTI's shape", async () => {
    const r = await h.req("GET", "/api/v1/auth/me");
    expect(r).toMatchObject({ status: 401, body: { code: "UNAUTHORIZED", detail: expect.any(String) } });
    const forged = await h.req("GET", "/api/v1/auth/me", { token: "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0." });
    expect(forged.status).toBe(401);
  });

  it("logs never contain tokens, codes or keys", async () => {
    const a = await signUp(h);
    await h.req("GET", "/api/v1/auth/me", { token: a.token });
    const all = h.logs.join("\n");
    expect(all).not.toContain(a.token);
    expect(all).not.toContain(a.refresh);
    expect(all).not.toContain(a.device.b64);
    expect(all).not.toContain(h.smtp.code(a.email));
  });
});
