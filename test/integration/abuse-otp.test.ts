import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { budgets } from "../../src/auth/budgets.js";
import { freshIp, type Hush, newDeviceKey, signUp, startHush, uniqueEmail } from "../helpers/hush.js";

/*
 * An attacker with as many IP addresses as it likes (each request below comes from a fresh one,
 * through X-Forwarded-For) and no access to the victim's mailbox.
 */
let h: Hush;
beforeAll(async () => {
  h = await startHush();
});
afterAll(() => h?.close());

const from = (ip = freshIp()) => ({ "x-forwarded-for": ip });
const start = (path: "signup" | "login", email: string, ip?: string) =>
  h.req("POST", `/api/v1/auth/${path}`, { body: { email }, headers: from(ip) });
const verify = (session_id: string, otp: string, ip?: string, device_info?: object) =>
  h.req("POST", "/api/v1/auth/verify-otp", {
    body: { session_id, otp, ...(device_info ? { device_info } : {}) },
    headers: from(ip),
  });
const wrong = (code: string, k = 1) => String((Number(code) + k) % 1_000_000).padStart(6, "0");
const device = () => ({ device_id: "owner-phone", device_name: "Phone", public_key: newDeviceKey().b64 });
const retryAfter = (r: { headers: Headers }) => Number(r.headers.get("retry-after"));
const DAY = 86_400;

/** Moves the clock to just after the next UTC midnight, the start of a day-long counting window. */
function startOfNextDay() {
  const now = h.clock.now().getTime();
  h.clock.advance((DAY * 1000 - (now % (DAY * 1000))) / 1000 + 1);
  return h.clock.now().getTime();
}

describe("session ids", () => {
  it("are 128 random bits: no two share the timestamp and counter an ObjectId would carry", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push((await start("signup", uniqueEmail())).body.session_id);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect(new Set(ids.map((id) => id.slice(0, 8))).size).toBe(ids.length);
    expect(new Set(ids.map((id) => id.slice(-6))).size).toBe(ids.length);
  });

  it("probing around a known id finds nothing, and every dead session answers alike", async () => {
    const own = (await start("signup", uniqueEmail())).body.session_id as string;
    const victimEmail = uniqueEmail();
    const victim = (await start("signup", victimEmail)).body.session_id as string;

    // Neighbours of the attacker's own id, as a counter-based id would have them.
    const width = own.length;
    const near = (d: number) =>
      (BigInt(`0x${own}`) + BigInt(d)).toString(16).padStart(width, "0").slice(-width);
    const probes = [-3, -2, -1, 1, 2, 3, 4, 5].map(near);
    const answers = [];
    for (const id of probes) answers.push(await verify(id, "123456"));

    // Sessions that exist but cannot take a code.
    const expired = uniqueEmail();
    const e = (await start("signup", expired)).body.session_id;
    const burned = uniqueEmail();
    const b = (await start("signup", burned)).body.session_id;
    for (let k = 1; k <= 3; k++) await verify(b, wrong(h.smtp.code(burned), k));
    const used = uniqueEmail();
    const u = (await start("signup", used)).body.session_id;
    expect((await verify(u, h.smtp.code(used))).status).toBe(200);
    h.clock.advance(301); // expires `e` (and nothing the probes could have found)
    answers.push(await verify(e, h.smtp.code(expired)));
    answers.push(await verify(b, h.smtp.code(burned)));
    answers.push(await verify(u, h.smtp.code(used)));
    answers.push(await verify("0".repeat(32), "123456"));

    const shapes = answers.map((a) => JSON.stringify({ status: a.status, body: a.body }));
    expect(new Set(shapes).size).toBe(1);
    expect(answers[0]).toMatchObject({ status: 400, body: { code: "OTP_EXPIRED" } });
    expect(probes).not.toContain(victim);
  });

  it("an upper-case id is the same session and shares its 3 attempts", async () => {
    const email = uniqueEmail();
    const id = (await start("signup", email)).body.session_id as string;
    const code = h.smtp.code(email);
    const first = await verify(id, wrong(code, 1));
    const second = await verify(id.toUpperCase(), wrong(code, 2));
    const third = await verify(`${id.slice(0, 16)}${id.slice(16).toUpperCase()}`, wrong(code, 3));
    expect([first, second, third].map((r) => r.headers.get("x-ratelimit-remaining"))).toEqual([
      "2",
      "1",
      "0",
    ]);
    expect(third.body.detail).toContain("no attempts left");
    expect(await verify(id.toUpperCase(), code)).toMatchObject({
      status: 400,
      body: { code: "OTP_EXPIRED" },
    });
  });

  it("concurrent sign-ups for one address leave exactly one live code", async () => {
    const email = uniqueEmail();
    const started = await Promise.all(Array.from({ length: 5 }, () => start("signup", email)));
    expect(started.map((s) => s.status)).toEqual(Array(5).fill(200));
    const live = await h.raw("otp_sessions").find({ email }).toArray();
    expect(live).toHaveLength(1);
    const ids = started.map((s) => s.body.session_id);
    expect(ids).toContain(live[0]!._id);
    // Only the live session takes a code; every other answers as spent, whatever code it is given.
    const codes = h.smtp.to(email).map((m) => /code is (\d{6})/.exec(m.text)![1]!);
    for (const id of ids.filter((x) => x !== live[0]!._id)) {
      for (const code of codes) expect((await verify(id, code)).body.code).toBe("OTP_EXPIRED");
    }
  });

  it("mails the code in the body only, never in the subject a lock screen shows", async () => {
    const email = uniqueEmail();
    await start("signup", email);
    const mail = h.smtp.to(email).at(-1)!;
    const code = h.smtp.code(email);
    const subject = /^subject: (.*)$/im.exec(mail.raw)![1]!;
    expect(subject).not.toContain(code);
    expect(subject).not.toMatch(/\d{6}/);
  });
});

describe("other ids", () => {
  it("keep the 24-hex form but share no timestamp or counter: one user's id says nothing of the next", async () => {
    const users = [];
    for (let i = 0; i < 6; i++) users.push(await signUp(h));
    const ids = users.map((u) => u.id);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{24}$/);
    expect(new Set(ids.map((id) => id.slice(0, 8))).size).toBe(ids.length); // an ObjectId's seconds
    const counters = ids.map((id) => Number.parseInt(id.slice(-6), 16));
    const steps = counters.slice(1).map((c, i) => c - counters[i]!);
    expect(steps.some((d) => d < 0 || d > 1_000)).toBe(true); // not a counter ticking up
    const sessions = await h.raw("auth_sessions").find({}).project({ _id: 1 }).limit(6).toArray();
    expect(new Set(sessions.map((s) => s._id.toHexString().slice(0, 8))).size).toBe(sessions.length);
  });
});

describe("code-guessing budgets per address, across all IPs", () => {
  it("an attacker rotating IPs gets at most 20 codes checked against one address a day", async () => {
    const dayStart = startOfNextDay();
    const victim = uniqueEmail(); // registering an account under someone else's address
    let checked = 0;
    let refused = 0;
    let sessions = 0;
    while (h.clock.now().getTime() < dayStart + (DAY - 3_600) * 1000) {
      const s = await start("signup", victim);
      if (s.status === 429) {
        h.clock.advance(Math.min(retryAfter(s), 3_600));
        continue;
      }
      sessions++;
      const code = h.smtp.code(victim);
      for (let k = 1; k <= 3; k++) {
        const r = await verify(s.body.session_id, wrong(code, k));
        if (r.body.code === "OTP_INVALID") checked++;
        else if (r.status === 429) refused++;
        else throw new Error(`unexpected ${r.status} ${JSON.stringify(r.body)}`);
      }
    }
    expect(checked).toBe(budgets.guessDay.limit);
    expect(refused).toBeGreaterThan(0);
    expect(sessions).toBeLessThanOrEqual(budgets.mailDay.limit);
    expect(await h.raw("users").countDocuments({ email: victim })).toBe(0);
  }, 120_000);

  it("a lockout attempt from one IP fails: the owner still gets a code and logs in", async () => {
    startOfNextDay();
    const owner = await signUp(h);
    const attacker = freshIp();
    // Everything one IP may do against the address: codes until refused, wrong guesses until refused.
    for (let round = 0; round < 4; round++) {
      const s = await start("login", owner.email, attacker);
      if (s.status !== 200) break;
      for (let k = 1; k <= 3; k++) {
        const r = await verify(s.body.session_id, wrong(h.smtp.code(owner.email), k), attacker, device());
        expect(r.body.code).toBe("OTP_INVALID");
      }
    }
    const refusedCode = await start("login", owner.email, attacker);
    expect(refusedCode.status).toBe(429);
    const other = await start("login", owner.email); // a session from elsewhere: this IP's guesses are spent
    const refusedGuess = await verify(
      other.body.session_id,
      wrong(h.smtp.code(owner.email)),
      attacker,
      device(),
    );
    expect(refusedGuess).toMatchObject({ status: 429, body: { code: "RATE_LIMITED" } });

    const mine = freshIp();
    const s = await start("login", owner.email, mine);
    expect(s.status).toBe(200);
    const r = await verify(s.body.session_id, h.smtp.code(owner.email), mine, device());
    expect(r.status).toBe(200);
  });

  it("with many IPs an attacker can hold an address's budget, and the owner is back within a day of it stopping", async () => {
    startOfNextDay();
    const owner = await signUp(h);
    // Guess from fresh IPs until the address's budget refuses (the owner's sign-up used one check).
    let spent = 0;
    for (let full = false; !full; ) {
      const s = await start("login", owner.email);
      if (s.status === 429) {
        h.clock.advance(Math.min(retryAfter(s), 3_600));
        continue;
      }
      for (let k = 1; k <= 3 && !full; k++) {
        const r = await verify(s.body.session_id, wrong(h.smtp.code(owner.email), k), undefined, device());
        if (r.status === 429) full = true;
        else expect(r.body.code).toBe("OTP_INVALID");
        if (!full) spent++;
      }
    }
    expect(spent).toBe(budgets.guessDay.limit - 1);
    // An hour on (the address's hourly mail budget has room again), the owner asks for a code:
    // it is mailed, but the right code is refused, with when to come back.
    h.clock.advance(3_600);
    const mine = freshIp();
    const s = await start("login", owner.email, mine);
    expect(s.status).toBe(200);
    const refused = await verify(s.body.session_id, h.smtp.code(owner.email), mine, device());
    expect(refused).toMatchObject({ status: 429, body: { code: "RATE_LIMITED" } });
    // The headers are the caller's own per-IP budget; the address's count stays hidden.
    expect(refused.headers.get("x-ratelimit-limit")).toBe(String(budgets.verifyIp.limit));
    const wait = retryAfter(refused);
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(DAY * (1 + 1 / budgets.guessDay.limit)); // docs/abuse.md

    // The attacker stops; once Retry-After has passed, the owner gets in.
    h.clock.advance(wait);
    const again = await start("login", owner.email, mine);
    expect(again.status).toBe(200);
    const ok = await verify(again.body.session_id, h.smtp.code(owner.email), mine, device());
    expect(ok.status).toBe(200);
  }, 60_000);
});
