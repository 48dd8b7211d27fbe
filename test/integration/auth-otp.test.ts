import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  freshIp,
  type Hush,
  newDeviceKey,
  signUp,
  startHush,
  uniqueEmail,
  uniqueUsername,
} from "../helpers/hush.js";

let h: Hush;
beforeAll(async () => {
  h = await startHush();
});
afterAll(() => h?.close());

const start = (email: string, path = "signup") =>
  h.req("POST", `/api/v1/auth/${path}`, {
    body: { email, purpose: "signup" },
    headers: { "x-forwarded-for": freshIp() },
  });
const verify = (session_id: string, otp: string, device_info?: object) =>
  h.req("POST", "/api/v1/auth/verify-otp", {
    body: { session_id, otp, ...(device_info ? { device_info } : {}) },
    headers: { "x-forwarded-for": freshIp() },
  });
/** What every session that cannot take a code answers: unknown, expired, burned or used. */
const SPENT = {
  status: 400,
  body: { code: "OTP_EXPIRED", detail: "This code is no longer valid; request a new one" },
};
const wrong = (code: string) => String((Number(code) + 1) % 1_000_000).padStart(6, "0");
const device = (id = "d1") => ({ device_id: id, device_name: "Phone", public_key: newDeviceKey().b64 });
const profile = (email: string) => ({
  email,
  username: uniqueUsername(),
  full_name: "Jane Doe",
  device_info: device(),
});

describe("sign-up", () => {
  it("runs HABIBTI's flow: signup, verify-otp, complete-signup with the user body and tokens", async () => {
    const email = uniqueEmail();
    const s = await start(`  ${email.toUpperCase()} `);
    expect(s.status).toBe(200);
    expect(s.body).toEqual({
      session_id: expect.stringMatching(/^[0-9a-f]{32}$/),
      expires_in: 300,
      message: `OTP sent successfully to ${email}`,
    });
    const v = await verify(s.body.session_id, h.smtp.code(email));
    expect(v.status).toBe(200);
    expect(v.body).toMatchObject({
      verified: true,
      temp_token: expect.any(String),
      message: expect.any(String),
    });
    const body = {
      ...profile(email),
      mobile: "+919876543210",
      address: "123 Main St",
      date_of_birth: "1995-01-15",
      gender: "male",
      bio: "Hello",
    };
    const done = await h.req("POST", `/api/v1/auth/complete-signup?temp_token=${v.body.temp_token}`, {
      body,
    });
    expect(done.status).toBe(201);
    expect(done.body).toMatchObject({
      id: expect.stringMatching(/^[0-9a-f]{24}$/),
      email,
      username: body.username,
      profile: {
        full_name: "Jane Doe",
        mobile: "+919876543210",
        date_of_birth: "1995-01-15",
        gender: "male",
        bio: "Hello",
        avatar_url: null,
      },
      privacy: {
        discoverable_by_email: false, // opt-in: see docs/abuse.md
        discoverable_by_username: true,
        show_online_status: true,
        read_receipts: true,
      },
      devices: [{ device_id: "d1", device_name: "Phone", key_type: "ed25519", current: true }],
      status: { online: false },
      token_type: "Bearer",
      expires_in: 900,
    });
    const me = await h.req("GET", "/api/v1/auth/me", { token: done.body.session_token });
    expect(me.body.id).toBe(done.body.id);
  });

  it("stores only a keyed hash of the code", async () => {
    const email = uniqueEmail();
    const s = await start(email);
    const doc = await h.raw("otp_sessions").findOne({ email });
    expect(doc?.code_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(doc)).not.toContain(h.smtp.code(email));
    await verify(s.body.session_id, h.smtp.code(email));
    expect((await h.raw("otp_sessions").findOne({ email }))?.code_hash).toBe("");
  });

  it("rejects a wrong code and says how many attempts are left", async () => {
    const email = uniqueEmail();
    const s = await start(email);
    const r = await verify(s.body.session_id, wrong(h.smtp.code(email)));
    expect(r).toMatchObject({
      status: 400,
      body: { code: "OTP_INVALID", fields: { otp: expect.any(String) } },
    });
    expect(r.body.detail).toContain("2 attempt");
    expect(r.headers.get("x-ratelimit-remaining")).toBe("2");
    expect((await verify(s.body.session_id, h.smtp.code(email))).status).toBe(200);
  });

  it("burns the session after 3 wrong codes, even for the right code afterwards", async () => {
    const email = uniqueEmail();
    const s = await start(email);
    const code = h.smtp.code(email);
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await verify(s.body.session_id, wrong(code)));
    expect(answers.map((a) => a.body.code)).toEqual(["OTP_INVALID", "OTP_INVALID", "OTP_INVALID"]);
    expect(answers[2]!.body.detail).toContain("no attempts left");
    expect(answers[2]!.headers.get("x-ratelimit-remaining")).toBe("0");
    expect(await verify(s.body.session_id, code)).toMatchObject(SPENT);
  });

  it("gives concurrent guesses no more than 3 tries in all, from however many IPs", async () => {
    const email = uniqueEmail();
    const s = await start(email);
    const code = h.smtp.code(email);
    const guesses = Array.from({ length: 20 }, (_, i) =>
      String((Number(code) + 1 + i) % 1_000_000).padStart(6, "0"),
    );
    const results = await Promise.all(guesses.map((g) => verify(s.body.session_id, g)));
    expect(results.filter((r) => r.body.code === "OTP_INVALID")).toHaveLength(3);
    expect(results.filter((r) => r.body.code === "OTP_EXPIRED")).toHaveLength(17);
    expect(await verify(s.body.session_id, code)).toMatchObject(SPENT);
  });

  it("rejects an expired code", async () => {
    const email = uniqueEmail();
    const s = await start(email);
    h.clock.advance(301);
    expect(await verify(s.body.session_id, h.smtp.code(email))).toMatchObject(SPENT);
  });

  it("rejects a code used twice, and lets exactly one of many racing right answers win", async () => {
    const email = uniqueEmail();
    const s = await start(email);
    const code = h.smtp.code(email);
    expect((await verify(s.body.session_id, code)).status).toBe(200);
    expect(await verify(s.body.session_id, code)).toMatchObject(SPENT);

    const other = uniqueEmail();
    const t = await start(other);
    const racing = await Promise.all(
      Array.from({ length: 10 }, () => verify(t.body.session_id, h.smtp.code(other))),
    );
    expect(racing.filter((r) => r.status === 200)).toHaveLength(1);
    for (const r of racing.filter((r) => r.status !== 200)) expect(r).toMatchObject(SPENT);
  });

  it("an unknown session answers like a spent one, and a malformed one is a 400 naming it", async () => {
    expect(await verify("9f2c4e1ab07d43c6e5f81a2b3c4d5e6f", "123456")).toMatchObject(SPENT);
    expect(await verify("507f1f77bcf86cd799439011", "123456")).toMatchObject({
      status: 400,
      body: { code: "VALIDATION_ERROR", fields: { session_id: expect.any(String) } },
    });
    expect(await verify("nope", "12345")).toMatchObject({
      status: 400,
      body: { fields: { session_id: expect.any(String), otp: expect.any(String) } },
    });
  });

  it("resend gives a new session and the old code stops working", async () => {
    const email = uniqueEmail();
    const first = await start(email);
    const oldCode = h.smtp.code(email);
    const again = await h.req("POST", "/api/v1/auth/resend-otp", {
      body: { email, purpose: "signup" },
      headers: { "x-forwarded-for": freshIp() },
    });
    expect(again.status).toBe(200);
    expect(again.body.message).toBe(`OTP resent successfully to ${email}`);
    expect(again.body.session_id).not.toBe(first.body.session_id);
    expect(await verify(first.body.session_id, oldCode)).toMatchObject(SPENT);
    expect((await verify(again.body.session_id, h.smtp.code(email))).status).toBe(200);
  });

  it("temp_token is single use, bound to its email, and must be genuine", async () => {
    const email = uniqueEmail();
    const s = await start(email);
    const { body } = await verify(s.body.session_id, h.smtp.code(email));
    const url = `/api/v1/auth/complete-signup?temp_token=${body.temp_token}`;
    const other = await h.req("POST", url, { body: profile(uniqueEmail()) });
    expect(other).toMatchObject({ status: 400, body: { fields: { email: expect.any(String) } } });
    expect((await h.req("POST", url, { body: profile(email) })).status).toBe(201);
    // Used: the documented 400 OTP_USED, not the 409 EMAIL_TAKEN the account it made would give.
    expect(await h.req("POST", url, { body: profile(email) })).toMatchObject({
      status: 400,
      body: { code: "OTP_USED" },
    });
    const forged = await h.req("POST", `/api/v1/auth/complete-signup?temp_token=${body.temp_token}x`, {
      body: profile(email),
    });
    expect(forged.status).toBe(401);
    const missing = await h.req("POST", "/api/v1/auth/complete-signup", { body: profile(email) });
    expect(missing).toMatchObject({
      status: 400,
      body: {
        detail: expect.stringContaining("`temp_token` is required"),
        fields: { temp_token: "is required" },
      },
    });
  });

  it("a temp_token raced by several complete-signups creates one account", async () => {
    const email = uniqueEmail();
    const s = await start(email);
    const { body } = await verify(s.body.session_id, h.smtp.code(email));
    const url = `/api/v1/auth/complete-signup?temp_token=${body.temp_token}`;
    const results = await Promise.all(
      Array.from({ length: 8 }, () => h.req("POST", url, { body: profile(email) })),
    );
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    for (const r of results.filter((r) => r.status !== 201)) expect([400, 409]).toContain(r.status);
    expect(await h.raw("users").countDocuments({ email })).toBe(1);
  });

  it("validates every profile field and names it", async () => {
    const email = uniqueEmail();
    const s = await start(email);
    const { body } = await verify(s.body.session_id, h.smtp.code(email));
    const r = await h.req("POST", `/api/v1/auth/complete-signup?temp_token=${body.temp_token}`, {
      body: {
        email,
        username: "no spaces allowed",
        full_name: "",
        mobile: "0044123",
        date_of_birth: "1995-02-30",
        gender: "robot",
        bio: "x".repeat(501),
        device_info: { device_id: "d1", device_name: "Phone", public_key: "dGVzdF9rZXk=" },
      },
    });
    expect(r.status).toBe(400);
    expect(Object.keys(r.body.fields).sort()).toEqual(
      ["bio", "date_of_birth", "device_info.public_key", "full_name", "gender", "mobile", "username"].sort(),
    );
    const future = await h.req("POST", `/api/v1/auth/complete-signup?temp_token=${body.temp_token}`, {
      body: { ...profile(email), date_of_birth: "2999-01-01" },
    });
    expect(future).toMatchObject({ status: 400, body: { fields: { date_of_birth: "must be in the past" } } });
    // The token survived the typos and still works.
    const ok = await h.req("POST", `/api/v1/auth/complete-signup?temp_token=${body.temp_token}`, {
      body: profile(email),
    });
    expect(ok.status).toBe(201);
  });

  it("usernames are unique without regard to case", async () => {
    const a = await signUp(h, { username: uniqueUsername("Case") });
    await expect(signUp(h, { username: a.username.toUpperCase() })).rejects.toThrow(/409.*USERNAME_TAKEN/);
  });
});

describe("no account enumeration", () => {
  it("sign-up for an existing email answers exactly like a new one; the mail tells the truth", async () => {
    const existing = await signUp(h);
    const fresh = uniqueEmail();
    const a = await start(existing.email);
    const b = await start(fresh);
    expect(a.status).toBe(b.status);
    expect(Object.keys(a.body).sort()).toEqual(Object.keys(b.body).sort());
    expect(a.body.expires_in).toBe(b.body.expires_in);
    const mail = h.smtp.to(existing.email).at(-1)!.text;
    expect(mail).toContain("already has an account");
    expect(mail).not.toMatch(/verification code is/);
    // No code can open it.
    expect((await verify(a.body.session_id, "000000")).status).toBe(400);
  });

  it("login for an unknown email answers exactly like a known one", async () => {
    const known = await signUp(h);
    const unknown = uniqueEmail();
    const a = await start(known.email, "login");
    const b = await start(unknown, "login");
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
    expect(Object.keys(a.body).sort()).toEqual(Object.keys(b.body).sort());
    expect(b.body.message).toBe(`OTP sent successfully to ${unknown}`);
    expect(h.smtp.to(unknown).at(-1)!.text).toContain("no account uses it");
  });
});
