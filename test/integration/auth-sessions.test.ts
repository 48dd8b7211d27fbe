import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Hush, logIn, signUp, startHush } from "../helpers/hush.js";

let h: Hush;
beforeAll(async () => {
  h = await startHush({ MAX_DEVICES: "3" });
});
afterAll(() => h?.close());

const me = (token: string) => h.req("GET", "/api/v1/auth/me", { token });
const refresh = (refresh_token: string) => h.req("POST", "/api/v1/auth/refresh", { body: { refresh_token } });

describe("login", () => {
  it("logs in on a new device with the emailed code and registers that device", async () => {
    const a = await signUp(h);
    const { res } = await logIn(h, a.email, "laptop");
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      verified: true,
      session_token: expect.any(String),
      refresh_token: expect.stringMatching(/^rt_/),
      token_type: "Bearer",
      expires_in: 900,
      user: { id: a.id, email: a.email },
    });
    expect(res.body.user.devices.map((d: any) => d.device_id).sort()).toEqual([a.deviceId, "laptop"].sort());
    expect(res.body.user.devices.find((d: any) => d.current).device_id).toBe("laptop");
    // Both devices work side by side.
    expect((await me(a.token)).status).toBe(200);
    expect((await me(res.body.session_token)).status).toBe(200);
  });

  it("needs device_info on a login session, naming it", async () => {
    const a = await signUp(h);
    const start = await h.req("POST", "/api/v1/auth/login", { body: { email: a.email } });
    const r = await h.req("POST", "/api/v1/auth/verify-otp", {
      body: { session_id: start.body.session_id, otp: h.smtp.code(a.email) },
    });
    expect(r).toMatchObject({ status: 400, body: { fields: { device_info: expect.any(String) } } });
    // The mistake did not spend the code.
    const ok = await h.req("POST", "/api/v1/auth/verify-otp", {
      body: {
        session_id: start.body.session_id,
        otp: h.smtp.code(a.email),
        device_info: { device_id: "d2", device_name: "Phone", public_key: a.device.b64 },
      },
    });
    expect(ok.status).toBe(200);
  });

  it("caps devices per account with a clear 409", async () => {
    const a = await signUp(h);
    expect((await logIn(h, a.email, "second")).res.status).toBe(200);
    expect((await logIn(h, a.email, "third")).res.status).toBe(200);
    const fourth = (await logIn(h, a.email, "fourth")).res;
    expect(fourth).toMatchObject({ status: 409, body: { code: "DEVICE_LIMIT_REACHED" } });
    // A known device may always log in again.
    expect((await logIn(h, a.email, "second")).res.status).toBe(200);
    const devices = await h.req("GET", "/api/v1/devices", { token: a.token });
    expect(devices.body.devices).toHaveLength(3);
  });

  it("logging in again on the same device replaces that device's session", async () => {
    const a = await signUp(h);
    const first = (await logIn(h, a.email, "tablet")).res.body.session_token;
    const second = (await logIn(h, a.email, "tablet")).res.body.session_token;
    expect((await me(first)).status).toBe(401);
    expect((await me(second)).status).toBe(200);
  });
});

describe("tokens and sessions", () => {
  it("access tokens expire after 15 minutes", async () => {
    const a = await signUp(h);
    h.clock.advance(899);
    expect((await me(a.token)).status).toBe(200);
    h.clock.advance(2);
    expect((await me(a.token)).status).toBe(401);
  });

  it("refresh rotates: the new pair works and the old refresh token is spent", async () => {
    const a = await signUp(h);
    const r = await refresh(a.refresh);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ token_type: "Bearer", expires_in: 900 });
    expect(r.body.refresh_token).not.toBe(a.refresh);
    expect((await me(r.body.session_token)).status).toBe(200);
    const again = await refresh(r.body.refresh_token);
    expect(again.status).toBe(200);
  });

  it("reusing a spent refresh token revokes the whole session (theft signal)", async () => {
    const a = await signUp(h);
    const rotated = await refresh(a.refresh);
    const replay = await refresh(a.refresh);
    expect(replay).toMatchObject({ status: 401, body: { code: "REFRESH_TOKEN_REUSED" } });
    expect((await me(rotated.body.session_token)).status).toBe(401);
    expect((await refresh(rotated.body.refresh_token)).status).toBe(401);
  });

  it("two concurrent uses of one refresh token: at most one wins and the session ends", async () => {
    const a = await signUp(h);
    const results = await Promise.all([refresh(a.refresh), refresh(a.refresh), refresh(a.refresh)]);
    expect(results.filter((r) => r.status === 200).length).toBeLessThanOrEqual(1);
    expect(results.some((r) => r.body.code === "REFRESH_TOKEN_REUSED")).toBe(true);
    for (const r of results.filter((x) => x.status === 200))
      expect((await me(r.body.session_token)).status).toBe(401);
  });

  it("an unknown refresh token is a 401", async () => {
    expect(await refresh("rt_nothing")).toMatchObject({ status: 401, body: { code: "UNAUTHORIZED" } });
  });

  it("refresh tokens expire with their session", async () => {
    const a = await signUp(h);
    h.clock.advance(30 * 86_400 + 1);
    expect((await refresh(a.refresh)).status).toBe(401);
  });

  it("logout ends the session at once, access token included", async () => {
    const a = await signUp(h);
    const out = await h.req("POST", "/api/v1/auth/logout", { token: a.token });
    expect(out.status).toBe(204);
    expect((await me(a.token)).status).toBe(401);
    expect((await refresh(a.refresh)).status).toBe(401);
  });

  it("a route run alongside its session check answers 401 once the session is gone, whatever it found", async () => {
    const [a, b] = [await signUp(h), await signUp(h)];
    const made = await h.req("POST", "/api/v1/conversations", {
      token: a.token,
      body: { participant_id: b.id },
    });
    expect(made.status).toBe(201);
    const page = (token: string, id: string) =>
      h.req("GET", `/api/v1/messages/conversations/${id}/messages`, { token });
    const nobody = "0123456789abcdef01234567";
    expect((await page(a.token, made.body.id)).status).toBe(200);
    expect((await page(a.token, nobody)).status).toBe(404);
    expect((await page(a.token, "not-an-id")).status).toBe(400);
    expect((await h.req("POST", "/api/v1/auth/logout", { token: a.token })).status).toBe(204);
    // A member's page, a conversation that does not exist, a malformed id: all 401 now.
    for (const id of [made.body.id, nobody, "not-an-id"]) expect((await page(a.token, id)).status).toBe(401);
    expect((await page(b.token, made.body.id)).status).toBe(200);
  });

  it("lists sessions and revokes another device's session at once", async () => {
    const a = await signUp(h);
    const other = (await logIn(h, a.email, "other")).res.body;
    const list = await h.req("GET", "/api/v1/auth/sessions", { token: a.token });
    expect(list.status).toBe(200);
    expect(list.body.sessions).toHaveLength(2);
    const theirs = list.body.sessions.find((s: any) => s.device_id === "other");
    expect(list.body.sessions.find((s: any) => s.current).device_id).toBe(a.deviceId);
    const del = await h.req("DELETE", `/api/v1/auth/sessions/${theirs.id}`, { token: a.token });
    expect(del.status).toBe(204);
    expect((await me(other.session_token)).status).toBe(401);
    expect((await h.req("DELETE", `/api/v1/auth/sessions/${theirs.id}`, { token: a.token })).status).toBe(
      404,
    );
  });

  it("cannot revoke another account's session", async () => {
    const a = await signUp(h);
    const b = await signUp(h);
    const theirs = (await h.req("GET", "/api/v1/auth/sessions", { token: b.token })).body.sessions[0].id;
    expect((await h.req("DELETE", `/api/v1/auth/sessions/${theirs}`, { token: a.token })).status).toBe(404);
    expect((await me(b.token)).status).toBe(200);
  });

  it("removing a device revokes its sessions", async () => {
    const a = await signUp(h);
    const other = (await logIn(h, a.email, "old-phone")).res.body;
    expect((await h.req("DELETE", "/api/v1/devices/old-phone", { token: a.token })).status).toBe(204);
    expect((await me(other.session_token)).status).toBe(401);
    expect((await refresh(other.refresh_token)).status).toBe(401);
    const left = await h.req("GET", "/api/v1/devices", { token: a.token });
    expect(left.body.devices.map((d: any) => d.device_id)).toEqual([a.deviceId]);
    expect((await h.req("DELETE", "/api/v1/devices/old-phone", { token: a.token })).status).toBe(404);
  });
});
