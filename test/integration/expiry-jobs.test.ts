import { randomBytes } from "node:crypto";
import { ObjectId } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Change } from "../../src/changes/record.js";
import { expiryJobs, runJob, sweepOnce } from "../../src/jobs/jobs.js";
import { startJobs } from "../../src/jobs/runner.js";
import { type Device, direct, group, newAccount, send } from "../helpers/e2e.js";
import { freshIp, type Hush, signUp, startHush, uniqueEmail } from "../helpers/hush.js";

// Two server processes' worth of state (apps, clocks, metrics, change hooks) over one database.
let a: Hush;
let b: Hush;
beforeAll(async () => {
  const dbName = `hush_expiry_${randomBytes(4).toString("hex")}`;
  const env = { JWT_SECRET: randomBytes(32).toString("hex"), ACCESS_TOKEN_TTL: "86400", EXPIRY_BATCH: "7" };
  a = await startHush(env, { dbName });
  b = await startHush(env, { dbName });
});
afterAll(async () => {
  await a?.close();
  await b?.close();
});

const expired = (h: Hush) =>
  h.changes.filter((c): c is Extract<Change, { type: "message_expired" }> => c.type === "message_expired");

describe("the message expiry job on two processes", () => {
  it("erases each expired message once and announces it once per device", async () => {
    const s = await newAccount(a);
    const others: Device[] = [await newAccount(a), await newAccount(a)];
    const g = await group(a, s, others);
    const sent: string[] = [];
    for (let i = 0; i < 40; i++) {
      const res = (await send(a, s, g, `m${i}`, { ttl_seconds: 5 })).res;
      expect(res.status).toBe(201);
      sent.push(res.body.id);
    }
    a.clock.advance(5);
    b.clock.advance(5);
    // Both processes run the job at the same moment, in batches of 7 (EXPIRY_BATCH).
    const [na, nb] = await Promise.all([sweepOnce(a.deps), sweepOnce(b.deps)]);
    expect(await a.raw("messages").countDocuments({ conversation_id: new ObjectId(g) })).toBe(0);
    const events = [...expired(a), ...expired(b)].filter((c) => c.conversation_id.toHexString() === g);
    expect(events.map((e) => e.message_id.toHexString()).sort()).toEqual([...sent].sort());
    expect(na + nb).toBeGreaterThanOrEqual(40);
    // Each event names each of the three devices once.
    for (const e of events) expect(new Set(e.targets.map((t) => t.device_id)).size).toBe(3);
    const conversation = await a.raw("conversations").findOne({ _id: new ObjectId(g) });
    expect(conversation).toMatchObject({ message_count: 0, last_message: null });
    const unread = await a
      .raw("conversation_members")
      .find({ conversation_id: new ObjectId(g) })
      .toArray();
    expect(unread.map((m) => m.unread_count)).toEqual([0, 0, 0]);
  });
});

describe("the other expiry jobs", () => {
  it("each erase their collection on schedule and report it per job and collection", async () => {
    const u = await signUp(a);
    await a.req("POST", "/api/v1/auth/refresh", { body: { refresh_token: u.refresh } });
    await a.req("POST", "/api/v1/auth/signup", {
      body: { email: uniqueEmail() },
      headers: { "x-forwarded-for": freshIp() },
    });
    for (const name of ["otp_sessions", "used_refresh_tokens", "rate_limits", "auth_sessions"]) {
      expect(await a.raw(name).countDocuments({}), name).toBeGreaterThan(0);
    }
    a.clock.advance(31 * 86_400); // past every window, OTP and the 30-day session lifetime
    const jobs = expiryJobs(a.deps.inventory);
    const names = jobs.map((j) => j.name);
    for (const n of [
      "otp_sessions",
      "used_refresh_tokens",
      "rate_limits",
      "auth_sessions",
      "messages",
      "message_keys",
    ]) {
      expect(names).toContain(`expire:${n}`);
    }
    for (const job of jobs) await runJob(a.deps, job);
    const now = a.clock.now();
    for (const name of ["otp_sessions", "used_refresh_tokens", "rate_limits"]) {
      expect(await a.raw(name).countDocuments({ expires_at: { $lte: now } }), name).toBe(0);
    }
    const metrics = a.deps.metrics.render();
    expect(metrics).toMatch(
      /expiry_erased_total\{job="expire:used_refresh_tokens",collection="used_refresh_tokens"\} [1-9]/,
    );
    expect(metrics).toMatch(
      /expiry_erased_total\{job="expire:otp_sessions",collection="otp_sessions"\} [1-9]/,
    );
    expect(metrics).toMatch(/expiry_job_runs_total\{job="view-once-cap"\} [1-9]/);
  });

  it("erase a key its device never confirmed after the retention, and keep a confirmed one", async () => {
    const s = await newAccount(a);
    const r1 = await newAccount(a);
    const r2 = await newAccount(a);
    const g = await group(a, s, [r1, r2]);
    const m = (await send(a, s, g, "hello")).res.body.id as string;
    expect((await a.req("POST", `/api/v1/messages/${m}/delivered`, { token: r1.token })).status).toBe(200);
    a.clock.advance(30 * 86_400 + 1);
    await sweepOnce(a.deps);
    const keys = await a
      .raw("message_keys")
      .find({ message_id: new ObjectId(m) })
      .toArray();
    expect(keys.map((k) => k.user_id.toHexString())).toEqual([r1.userId]);
    expect(await a.raw("messages").countDocuments({ _id: new ObjectId(m) })).toBe(1);
  });

  it("run on their own schedule and stop when asked, waiting for a run in flight", async () => {
    const s = await newAccount(b);
    const r = await newAccount(b);
    const id = await direct(b, s, r);
    const m = (await send(b, s, id, "soon gone", { ttl_seconds: 5 })).res.body.id as string;
    b.clock.advance(5);
    const runner = startJobs(
      b.deps,
      expiryJobs(b.deps.inventory).filter((j) => j.name === "expire:messages"),
    );
    try {
      // The job runs every EXPIRY_INTERVAL_MS (1 s by default) of real time; wait for its event.
      for (let i = 0; i < 100 && !expired(b).some((e) => e.message_id.toHexString() === m); i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      await runner.stop();
    }
    expect(await b.raw("messages").countDocuments({ _id: new ObjectId(m) })).toBe(0);
  });
});
