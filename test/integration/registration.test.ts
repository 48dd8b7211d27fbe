import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createInvite } from "../../src/invites/repo.js";
import {
  freshIp,
  type Hush,
  logIn,
  newDeviceKey,
  signUp,
  startHush,
  uniqueEmail,
  uniqueUsername,
} from "../helpers/hush.js";

/** Sign-up's first step, from a fresh IP unless one is given. */
const start = (h: Hush, email: string, invite_code?: string, ip = freshIp()) =>
  h.req("POST", "/api/v1/auth/signup", {
    body: { email, purpose: "signup", ...(invite_code ? { invite_code } : {}) },
    headers: { "x-forwarded-for": ip },
  });

/** Verifies the mailed code; returns the temp_token for complete-signup. */
async function verified(h: Hush, email: string, sessionId: string) {
  const res = await h.req("POST", "/api/v1/auth/verify-otp", {
    body: { session_id: sessionId, otp: h.smtp.code(email) },
    headers: { "x-forwarded-for": freshIp() },
  });
  expect(res.status).toBe(200);
  return res.body.temp_token as string;
}

const complete = (h: Hush, email: string, token: string) =>
  h.req("POST", `/api/v1/auth/complete-signup?temp_token=${token}`, {
    body: {
      email,
      username: uniqueUsername(),
      full_name: "Invited Person",
      device_info: { device_id: "phone", device_name: "Phone", public_key: newDeviceKey().b64 },
    },
  });

/** The whole sign-up with an invite code: the final answer. */
async function signUpWith(h: Hush, email: string, code: string) {
  const started = await start(h, email, code);
  expect(started.status).toBe(200);
  return complete(h, email, await verified(h, email, started.body.session_id));
}

describe("REGISTRATION=closed", () => {
  let open: Hush;
  let closed: Hush;
  beforeAll(async () => {
    // One server's settings changed: the same database and secret, so tokens carry over.
    const JWT_SECRET = "registration-test-secret-0123456789abcdef";
    open = await startHush({ JWT_SECRET });
    closed = await startHush(
      { JWT_SECRET, REGISTRATION: "closed" },
      { dbName: open.deps.store.db.databaseName },
    );
  });
  afterAll(async () => {
    await closed?.close();
    await open?.close();
  });

  it("refuses every sign-up alike, with or without an account, and sends no mail", async () => {
    const member = await signUp(open);
    const stranger = uniqueEmail("stranger");
    const a = await start(closed, member.email);
    const b = await start(closed, stranger);
    expect(a.status).toBe(403);
    expect(a.body).toEqual({ code: "REGISTRATION_CLOSED", detail: "This server does not take new accounts" });
    expect(b.body).toEqual(a.body);
    expect(closed.smtp.to(member.email)).toEqual([]);
    expect(closed.smtp.to(stranger)).toEqual([]);
    const resend = await closed.req("POST", "/api/v1/auth/resend-otp", {
      body: { email: stranger, purpose: "signup" },
      headers: { "x-forwarded-for": freshIp() },
    });
    expect(resend.body.code).toBe("REGISTRATION_CLOSED");
  });

  it("still lets existing accounts log in", async () => {
    const member = await signUp(open);
    const { res } = await logIn(closed, member.email, "laptop");
    expect(res.status).toBe(200);
    expect(res.body.user.id).toBe(member.id);
  });

  it("refuses a sign-up begun while it was open at complete-signup", async () => {
    const email = uniqueEmail("late");
    const started = await start(open, email);
    const token = await verified(open, email, started.body.session_id);
    const res = await complete(closed, email, token);
    expect(res.status).toBe(403);
    expect(res.body.code).toBe("REGISTRATION_CLOSED");
  });
});

describe("REGISTRATION_EMAIL_DOMAINS", () => {
  let h: Hush;
  beforeAll(async () => {
    h = await startHush({ REGISTRATION_EMAIL_DOMAINS: "family.example, @Team.example" });
  });
  afterAll(() => h?.close());

  it("takes the listed domains only, in any letter case, before any mail", async () => {
    const outsider = uniqueEmail("out");
    const refused = await start(h, outsider);
    expect(refused.status).toBe(403);
    expect(refused.body.code).toBe("EMAIL_DOMAIN_NOT_ALLOWED");
    expect(refused.body.fields).toEqual({ email: "this server does not take its domain" });
    expect(h.smtp.to(outsider)).toEqual([]);

    const account = await signUp(h, { email: `kid.${Date.now()}@Family.Example` });
    expect(account.body.email).toMatch(/@family\.example$/);
    const team = await signUp(h, { email: `dev.${Date.now()}@team.example` });
    expect(team.id).toMatch(/^[0-9a-f]{24}$/);
  });
});

describe("REGISTRATION=invite", () => {
  let h: Hush;
  beforeAll(async () => {
    h = await startHush({ REGISTRATION: "invite" });
  });
  afterAll(() => h?.close());

  it("needs a code, refuses a wrong one the same way for every address, and sends no mail", async () => {
    const member = await signUpWith(
      h,
      uniqueEmail("first"),
      (await createInvite(h.deps, { uses: 1, expiresAt: null })).code,
    );
    expect(member.status).toBe(201);

    const stranger = uniqueEmail("stranger");
    const none = await start(h, stranger);
    expect(none.status).toBe(403);
    expect(none.body.code).toBe("INVITE_REQUIRED");
    expect((await start(h, member.body.email)).body).toEqual(none.body);

    const wrongForStranger = await start(h, stranger, "hush-not-a-real-code");
    const wrongForMember = await start(h, member.body.email, "hush-not-a-real-code");
    expect(wrongForStranger.status).toBe(403);
    expect(wrongForStranger.body.code).toBe("INVITE_INVALID");
    expect(wrongForMember.body).toEqual(wrongForStranger.body);
    expect(h.smtp.to(stranger)).toEqual([]);
    expect(h.smtp.to(member.body.email)).toHaveLength(1); // its own sign-up's code only
  });

  it("stores codes hashed, spends one use per account and refuses a used-up code", async () => {
    const { code, invite } = await createInvite(h.deps, { uses: 2, expiresAt: null });
    const stored = await h.raw("invites").findOne({ _id: invite._id });
    expect(JSON.stringify(stored)).not.toContain(code.slice(5));

    expect((await signUpWith(h, uniqueEmail("one"), code)).status).toBe(201);
    expect((await signUpWith(h, uniqueEmail("two"), code)).status).toBe(201);
    expect((await h.raw("invites").findOne({ _id: invite._id }))?.uses_left).toBe(0);
    const third = await start(h, uniqueEmail("three"), code);
    expect(third.status).toBe(403);
    expect(third.body.code).toBe("INVITE_INVALID");
  });

  it("refuses at complete-signup a code used up between the two steps, keeping the temp_token good", async () => {
    const { code, invite } = await createInvite(h.deps, { uses: 1, expiresAt: null });
    const [first, second] = [uniqueEmail("winner"), uniqueEmail("loser")];
    const a = await start(h, first, code);
    const b = await start(h, second, code); // both checked while the one use was left
    expect([a.status, b.status]).toEqual([200, 200]);
    const tokenA = await verified(h, first, a.body.session_id);
    const tokenB = await verified(h, second, b.body.session_id);
    expect((await complete(h, first, tokenA)).status).toBe(201);
    const late = await complete(h, second, tokenB);
    expect(late.status).toBe(403);
    expect(late.body.code).toBe("INVITE_INVALID");
    expect(await h.raw("users").findOne({ email: second })).toBeNull();
    expect((await h.raw("invites").findOne({ _id: invite._id }))?.uses_left).toBe(0);
  });

  it("keeps the invite through a resend of the code", async () => {
    const { code } = await createInvite(h.deps, { uses: 1, expiresAt: null });
    const email = uniqueEmail("resend");
    expect((await start(h, email, code)).status).toBe(200);
    const again = await h.req("POST", "/api/v1/auth/resend-otp", {
      body: { email, purpose: "signup" },
      headers: { "x-forwarded-for": freshIp() },
    });
    expect(again.status).toBe(200);
    expect((await complete(h, email, await verified(h, email, again.body.session_id))).status).toBe(201);
  });

  it("refuses an expired invite", async () => {
    const { code } = await createInvite(h.deps, {
      uses: 1,
      expiresAt: new Date(h.clock.now().getTime() + 3_600_000),
    });
    h.clock.advance(3_601);
    const res = await start(h, uniqueEmail("late"), code);
    expect(res.status).toBe(403);
    expect(res.body.code).toBe("INVITE_INVALID");
  });

  it("counts wrong codes against the caller's IP: past 10 a day even a right code waits", async () => {
    const ip = freshIp();
    for (let i = 0; i < 10; i++) {
      expect((await start(h, uniqueEmail("guess"), `hush-guess-${i}`, ip)).body.code).toBe("INVITE_INVALID");
    }
    const { code } = await createInvite(h.deps, { uses: 1, expiresAt: null });
    const blocked = await start(h, uniqueEmail("guess"), code, ip);
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get("retry-after"))).toBeGreaterThan(0);
    expect((await start(h, uniqueEmail("other"), code)).status).toBe(200); // another IP is not held back
  });
});
