import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshIp, type Hush, signUp, startHush, uniqueEmail } from "../helpers/hush.js";

let h: Hush;
beforeAll(async () => {
  h = await startHush();
});
afterAll(() => h?.close());

const post = (path: string, body: object, ip = freshIp()) =>
  h.req("POST", `/api/v1/auth/${path}`, { body, headers: { "x-forwarded-for": ip } });

describe("rate limits (HABIBTI's table, Echo's headers)", () => {
  it("sign-up: 3 per 15 minutes per IP, with X-RateLimit-* and Retry-After", async () => {
    const ip = freshIp();
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await post("signup", { email: uniqueEmail() }, ip));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 429]);
    expect(answers.map((a) => a.headers.get("x-ratelimit-remaining"))).toEqual(["2", "1", "0", "0"]);
    for (const a of answers) expect(a.headers.get("x-ratelimit-limit")).toBe("3");
    const reset = Number(answers[0]!.headers.get("x-ratelimit-reset"));
    expect(reset * 1000).toBeGreaterThan(h.clock.now().getTime());
    expect(reset * 1000).toBeLessThanOrEqual(h.clock.now().getTime() + 900_000);
    const limited = answers[3]!;
    expect(limited.body).toMatchObject({ code: "RATE_LIMITED", detail: expect.any(String) });
    const retry = Number(limited.headers.get("retry-after"));
    expect(retry).toBeGreaterThan(0);
    expect(retry).toBeLessThanOrEqual(900);
    // Another IP is unaffected; the same IP works again once the window has passed.
    expect((await post("signup", { email: uniqueEmail() })).status).toBe(200);
    h.clock.advance(retry);
    expect((await post("signup", { email: uniqueEmail() }, ip)).status).toBe(200);
  });

  it("sign-up limit holds under a burst: exactly 3 of 10 concurrent requests pass", async () => {
    const ip = freshIp();
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => post("signup", { email: uniqueEmail() }, ip)),
    );
    expect(answers.filter((a) => a.status === 200)).toHaveLength(3);
    expect(answers.filter((a) => a.status === 429)).toHaveLength(7);
  });

  it("resend-otp: 5 per hour per email, whatever the IP", async () => {
    const email = uniqueEmail();
    const statuses = [];
    for (let i = 0; i < 6; i++)
      statuses.push((await post("resend-otp", { email, purpose: "signup" })).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
    expect((await post("resend-otp", { email: uniqueEmail(), purpose: "signup" })).status).toBe(200);
    h.clock.advance(3600);
    expect((await post("resend-otp", { email, purpose: "signup" })).status).toBe(200);
  });

  it("login: 5 per hour per email, and 10 per 15 minutes per IP", async () => {
    const a = await signUp(h);
    const statuses = [];
    for (let i = 0; i < 6; i++) statuses.push((await post("login", { email: a.email })).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
    const ip = freshIp();
    const perIp = [];
    for (let i = 0; i < 11; i++) perIp.push((await post("login", { email: uniqueEmail() }, ip)).status);
    expect(perIp.slice(0, 10).every((s) => s === 200)).toBe(true);
    expect(perIp[10]).toBe(429);
  });

  it("client IPs come from X-Forwarded-For only when TRUST_PROXY is on", async () => {
    const strict = await startHush({ TRUST_PROXY: "false" });
    try {
      const statuses = [];
      for (let i = 0; i < 4; i++) {
        const r = await strict.req("POST", "/api/v1/auth/signup", {
          body: { email: uniqueEmail() },
          headers: { "x-forwarded-for": freshIp() }, // ignored: every request is from 127.0.0.1
        });
        statuses.push(r.status);
      }
      expect(statuses).toEqual([200, 200, 200, 429]);
    } finally {
      await strict.close();
    }
  });

  it("counters expire: the sweeper erases them once their window is over", async () => {
    const { sweepOnce } = await import("../../src/jobs/sweeper.js");
    const a = await signUp(h);
    await h.req("POST", "/api/v1/auth/refresh", { body: { refresh_token: a.refresh } });
    await post("signup", { email: uniqueEmail() });
    const before = await h.raw.slots.countDocuments({});
    expect(before).toBeGreaterThan(0);
    h.clock.advance(31 * 86_400); // past every window, OTP and the 30-day session lifetime
    await sweepOnce(h.deps);
    const { ObjectId } = await import("mongodb");
    expect(await h.raw.authSessions.countDocuments({ user_id: new ObjectId(a.id) })).toBe(0);
    expect(await h.raw.usedRefresh.countDocuments({})).toBe(0);
    expect(await h.raw.slots.countDocuments({ expires_at: { $lte: h.clock.now() } })).toBe(0);
    expect(await h.raw.otpSessions.countDocuments({ expires_at: { $lte: h.clock.now() } })).toBe(0);
  });
});
