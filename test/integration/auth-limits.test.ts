import { ObjectId } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sweepOnce } from "../../src/jobs/jobs.js";
import { freshIp, type Hush, signUp, startHush, uniqueEmail } from "../helpers/hush.js";
import { seededRandom } from "../helpers/seed.js";

const random = seededRandom();

let h: Hush;
beforeAll(async () => {
  h = await startHush();
});
afterAll(() => h?.close());

const post = (path: string, body: object, ip = freshIp()) =>
  h.req("POST", `/api/v1/auth/${path}`, { body, headers: { "x-forwarded-for": ip } });
const retryAfter = (r: { headers: Headers }) => Number(r.headers.get("retry-after"));
/** Moves the clock to just after the next UTC midnight, the start of a day-long counting window. */
function startOfNextDay(s: Hush) {
  const day = 86_400_000;
  const now = s.clock.now().getTime();
  s.clock.advance((day - (now % day)) / 1000 + 1);
  return s.clock.now().getTime();
}

describe("per-IP limits (HABIBTI's table, Echo's headers)", () => {
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
    expect(retryAfter(limited)).toBeGreaterThan(0);
    expect(retryAfter(limited)).toBeLessThanOrEqual(1800); // a sliding window: up to two windows
    // Another IP is unaffected; the same IP works again once Retry-After has passed.
    expect((await post("signup", { email: uniqueEmail() })).status).toBe(200);
    h.clock.advance(retryAfter(limited));
    expect((await post("signup", { email: uniqueEmail() }, ip)).status).toBe(200);
  });

  it("a 429's X-RateLimit-Reset names the moment Retry-After does, even past the window's end", async () => {
    const ip = freshIp();
    // Half way through a window: the wait runs into the next one, where these hits still weigh.
    const window = 900_000;
    const now = h.clock.now().getTime();
    h.clock.advance((window - (now % window) + window / 2) / 1000);
    for (let i = 0; i < 3; i++) expect((await post("signup", { email: uniqueEmail() }, ip)).status).toBe(200);
    const limited = await post("signup", { email: uniqueEmail() }, ip);
    expect(limited.status).toBe(429);
    const at = h.clock.now().getTime();
    expect(retryAfter(limited) * 1000).toBeGreaterThan(window / 2); // past this window's end
    expect(Number(limited.headers.get("x-ratelimit-reset"))).toBe(Math.ceil(at / 1000) + retryAfter(limited));
  });

  it("sign-up limit holds under a burst: exactly 3 of 10 concurrent requests pass", async () => {
    const ip = freshIp();
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => post("signup", { email: uniqueEmail() }, ip)),
    );
    expect(answers.filter((a) => a.status === 200)).toHaveLength(3);
    expect(answers.filter((a) => a.status === 429)).toHaveLength(7);
  });

  it("windows slide: the budget does not refill at a clock boundary", async () => {
    const ip = freshIp();
    // Spend the budget late in a window, then step just past the boundary: still refused.
    const window = 900_000;
    const now = h.clock.now().getTime();
    h.clock.advance((window - (now % window) - 5_000) / 1000);
    for (let i = 0; i < 3; i++) expect((await post("signup", { email: uniqueEmail() }, ip)).status).toBe(200);
    h.clock.advance(10);
    const after = await post("signup", { email: uniqueEmail() }, ip);
    expect(after.status).toBe(429);
    expect(retryAfter(after)).toBeGreaterThan(60);
  });

  it("resend-otp counts against the per-IP limit of its purpose: no way around sign-up's", async () => {
    const ip = freshIp();
    for (let i = 0; i < 3; i++) expect((await post("signup", { email: uniqueEmail() }, ip)).status).toBe(200);
    expect((await post("signup", { email: uniqueEmail() }, ip)).status).toBe(429);
    const resent = await post("resend-otp", { email: uniqueEmail(), purpose: "signup" }, ip);
    expect(resent).toMatchObject({ status: 429, body: { code: "RATE_LIMITED" } });
    // Login has its own, larger budget.
    expect((await post("resend-otp", { email: uniqueEmail(), purpose: "login" }, ip)).status).toBe(200);
  });

  it("login: 10 per 15 minutes per IP", async () => {
    const ip = freshIp();
    const perIp = [];
    for (let i = 0; i < 11; i++) perIp.push((await post("login", { email: uniqueEmail() }, ip)).status);
    expect(perIp.slice(0, 10)).toEqual(Array(10).fill(200));
    expect(perIp[10]).toBe(429);
  });

  it("an IPv6 client is counted by its /64: rotating the rest of the address buys nothing", async () => {
    const prefix = `2001:db8:${(random() * 0xffff) | 0}:1`;
    const statuses = [];
    for (let i = 1; i <= 4; i++)
      statuses.push((await post("signup", { email: uniqueEmail() }, `${prefix}::${i.toString(16)}`)).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
  });
});

describe("the mail budget of an address, whoever asks", () => {
  it("mails one address at most 5 codes an hour and 20 a day across sign-up, login and resend", async () => {
    const dayStart = startOfNextDay(h);
    const email = uniqueEmail();
    const paths = ["signup", "login", "resend-otp"];
    const ask = (i: number) => post(paths[i % 3]!, { email, purpose: "signup" });
    const hour = [];
    for (let i = 0; i < 6; i++) hour.push(await ask(i));
    expect(hour.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 429]);
    const refused = hour[5]!;
    // The address's count shows nowhere: X-RateLimit-* are the caller's own rule's (a fresh IP's),
    // spent as on any 429, so the refusal looks like the caller's own.
    expect(refused.headers.get("x-ratelimit-limit")).toBe("3");
    expect(refused.headers.get("x-ratelimit-remaining")).toBe("0");
    expect(retryAfter(refused)).toBeGreaterThan(0);
    expect(h.smtp.to(email)).toHaveLength(5);

    let sent = 5;
    // Asking on through the rest of that day (its counting window) gets no more than 20 in all.
    for (let tries = 0; tries < 200 && h.clock.now().getTime() < dayStart + 86_000_000; tries++) {
      const r = await ask(tries);
      if (r.status === 200) sent++;
      else h.clock.advance(Math.min(retryAfter(r), 3_600));
      if (sent > 20) break;
    }
    expect(sent).toBe(20);
    expect(h.smtp.to(email)).toHaveLength(20);
  });

  it("one IP gets at most 2 of an address's codes an hour and 5 a day: it cannot lock the owner out", async () => {
    startOfNextDay(h); // the day-long window starts now, so 20 hours stay inside it
    const owner = await signUp(h); // one code mailed already
    const attacker = freshIp();
    const ask = () => post("login", { email: owner.email }, attacker);
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await ask()).status);
    expect(statuses).toEqual([200, 200, 429]);
    expect((await post("login", { email: owner.email })).status).toBe(200);
    let sent = 2;
    for (let hours = 0; hours < 20; hours++) {
      h.clock.advance(3_600);
      if ((await ask()).status === 200) sent++;
    }
    expect(sent).toBe(5);
    expect((await post("login", { email: owner.email })).status).toBe(200);
  });

  it("a 429 an address's budget caused looks like one the caller's own budget caused", async () => {
    const email = uniqueEmail();
    let byTarget = await post("signup", { email });
    for (let i = 0; i < 10 && byTarget.status === 200; i++) byTarget = await post("signup", { email });
    const ip = freshIp();
    let byCaller = await post("signup", { email: uniqueEmail() }, ip);
    for (let i = 0; i < 10 && byCaller.status === 200; i++)
      byCaller = await post("signup", { email: uniqueEmail() }, ip);
    expect([byTarget.status, byCaller.status]).toEqual([429, 429]);
    expect(byTarget.body).toEqual(byCaller.body);
    expect(JSON.stringify(byTarget.body)).not.toMatch(/address|mail-|otp-/);
    const shown = (r: typeof byTarget) =>
      ["x-ratelimit-limit", "x-ratelimit-remaining"].map((n) => [n, r.headers.get(n)]);
    expect(shown(byTarget)).toEqual(shown(byCaller));
    expect(retryAfter(byTarget)).toBeGreaterThan(0);
  });

  it("X-RateLimit-* on login say nothing about who else asked for an address", async () => {
    const victim = await signUp(h);
    for (let i = 0; i < 3; i++) await post("login", { email: victim.email });
    const asked = await post("login", { email: victim.email });
    const fresh = await post("login", { email: uniqueEmail() });
    expect(asked.status).toBe(200);
    for (const name of ["x-ratelimit-limit", "x-ratelimit-remaining"]) {
      expect(asked.headers.get(name), name).toBe(fresh.headers.get(name));
    }
    expect(asked.headers.get("x-ratelimit-remaining")).toBe("9"); // the caller's own IP budget
  });
});

describe("client addresses behind proxies", () => {
  const signupFrom = (s: Hush, forwarded: string) =>
    s.req("POST", "/api/v1/auth/signup", {
      body: { email: uniqueEmail() },
      headers: { "x-forwarded-for": forwarded },
    });

  it("TRUST_PROXY off: X-Forwarded-For is ignored", async () => {
    const strict = await startHush({ TRUST_PROXY: "false" });
    try {
      const statuses = [];
      for (let i = 0; i < 4; i++) statuses.push((await signupFrom(strict, freshIp())).status);
      expect(statuses).toEqual([200, 200, 200, 429]); // every request is from 127.0.0.1
    } finally {
      await strict.close();
    }
  });

  it("one trusted hop: the proxy's entry counts, not the entries the client wrote before it", async () => {
    const seen = freshIp(); // what the one trusted proxy appended
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await signupFrom(h, `203.0.113.${i}, ${seen}`)).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
  });

  it("trusted proxy addresses: the first untrusted address from the right is the client", async () => {
    const s = await startHush({ TRUST_PROXY: "127.0.0.0/8, 10.0.0.0/8" });
    try {
      const client = `198.51.100.${(random() * 250) | 0}`;
      const statuses = [];
      for (let i = 0; i < 4; i++)
        statuses.push((await signupFrom(s, `192.0.2.${i}, ${client}, 10.1.2.3`)).status);
      expect(statuses).toEqual([200, 200, 200, 429]);
      // A different client behind the same proxies has its own budget.
      expect((await signupFrom(s, "198.51.100.251, 10.1.2.3")).status).toBe(200);
    } finally {
      await s.close();
    }
  });
});

describe("counters", () => {
  it("expire: the sweeper erases them once their window and the next are over", async () => {
    const a = await signUp(h);
    await h.req("POST", "/api/v1/auth/refresh", { body: { refresh_token: a.refresh } });
    await post("signup", { email: uniqueEmail() });
    expect(await h.raw("rate_limits").countDocuments({})).toBeGreaterThan(0);
    h.clock.advance(31 * 86_400); // past every window, OTP and the 30-day session lifetime
    await sweepOnce(h.deps);
    expect(await h.raw("auth_sessions").countDocuments({ user_id: new ObjectId(a.id) })).toBe(0);
    expect(await h.raw("used_refresh_tokens").countDocuments({})).toBe(0);
    expect(await h.raw("rate_limits").countDocuments({ expires_at: { $lte: h.clock.now() } })).toBe(0);
    expect(await h.raw("otp_sessions").countDocuments({ expires_at: { $lte: h.clock.now() } })).toBe(0);
  });

  it("keep no IP or email: keys are hashed into _id", async () => {
    const ip = freshIp();
    const email = uniqueEmail();
    await post("signup", { email }, ip);
    const all = JSON.stringify(await h.raw("rate_limits").find({}).toArray());
    expect(all).not.toContain(ip);
    expect(all).not.toContain(email);
  });
});
