import { randomBytes } from "node:crypto";
import { ObjectId } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Change } from "../../src/delivery/deliver.js";
import { expiryJobs, runJob, sweepOnce } from "../../src/jobs/jobs.js";
import { startJobs } from "../../src/jobs/runner.js";
import { expireMessages, LEASE_MS } from "../../src/messages/expiry.js";
import { type Device, direct, group, newAccount, send } from "../helpers/e2e.js";
import { freshIp, type Hush, signUp, startHush, uniqueEmail } from "../helpers/hush.js";
import { type Client, connect } from "../helpers/ws.js";

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
    // One member's device on each process's socket; the sender's device offline (sync).
    const sockets = [
      (await connect(a, others[0]!.token)).client,
      (await connect(b, others[1]!.token)).client,
    ];
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
    // On the real streams: each device has exactly one message_expired per message, live
    // (whichever process erased it) and in sync.
    for (const socket of sockets) {
      const live = await expiredOn(socket, 40);
      expect(live.sort()).toEqual([...sent].sort());
      await socket.close();
    }
    for (const d of [s, ...others]) expect((await expiredIn(a, d)).sort()).toEqual([...sent].sort());
  }, 90_000); // 40 sends on the local store, on a machine shared with other test runs
});

/** The ids of the message_expired entries a socket received (waits for `n`, then for any more). */
async function expiredOn(socket: Client, n: number) {
  for (let i = 0; i < n; i++) await socket.next("message_expired", 10_000);
  await socket.ask({ type: "ping" }, "pong");
  expect(socket.seen("message_expired")).toEqual([]); // none beyond the n taken
  const page = await socket.ask({ type: "sync", data: { since: 0, limit: 500 } }, "sync_result");
  return page.data.entries.flatMap((e) => (e.type === "message_expired" ? [e.data.message_id] : []));
}

/** The ids of the message_expired entries in a device's stream, through GET /sync. */
async function expiredIn(h: Hush, d: Device) {
  const res = await h.req("GET", "/api/v1/sync?since=0&limit=500", { token: d.token });
  expect(res.status).toBe(200);
  return (res.body.entries as { type: string; data: { message_id: string } }[]).flatMap((e) =>
    e.type === "message_expired" ? [e.data.message_id] : [],
  );
}

/** Both processes' clocks at the same instant (the tests move them separately). */
function alignClocks() {
  const ahead = a.clock.now().getTime() - b.clock.now().getTime();
  if (ahead > 0) b.clock.advance(ahead / 1000);
  else a.clock.advance(-ahead / 1000);
}

describe("a run whose lease lapses mid-batch, forced", () => {
  /**
   * Five expiring messages in a group whose members' counters each take them back differently:
   * r1 has them unread, r2 read the first and hid the second, `late` joined after them (base
   * count); one lasting message after them.
   */
  async function counted() {
    const s = await newAccount(a);
    const [r1, r2, late] = [await newAccount(a), await newAccount(a), await newAccount(a)];
    const g = await group(a, s, [r1, r2]);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await send(a, s, g, `m${i}`, { ttl_seconds: 5 })).res.body.id);
    const api = (d: Device, method: string, path: string, body?: unknown) =>
      a.req(method, `/api/v1${path}`, { token: d.token, body });
    expect((await api(r2, "POST", `/messages/${ids[0]}/read`)).status).toBe(200);
    expect((await api(r2, "DELETE", `/messages/${ids[1]}`, { delete_for_everyone: false })).status).toBe(200);
    expect((await api(s, "POST", `/conversations/${g}/members`, { user_id: late.userId })).status).toBe(201);
    await send(a, s, g, "stays");
    alignClocks();
    a.clock.advance(5);
    b.clock.advance(5);
    return { s, r1, r2, late, g, ids, api, devices: [s, r1, r2, late] };
  }

  /** Every counter as if each message had been taken back exactly once. */
  async function expectExact(t: Awaited<ReturnType<typeof counted>>) {
    const _ids = t.ids.map((id) => new ObjectId(id));
    expect(await a.raw("messages").countDocuments({ _id: { $in: _ids } })).toBe(0);
    expect(await a.raw("message_marks").countDocuments({ message_id: { $in: _ids } })).toBe(0);
    expect(await a.raw("conversations").findOne({ _id: new ObjectId(t.g) })).toMatchObject({
      message_count: 1,
    });
    const members = await a
      .raw("conversation_members")
      .find({ conversation_id: new ObjectId(t.g) })
      .toArray();
    const of = (d: Device) => members.find((m) => m.user_id.toHexString() === d.userId)!;
    expect(of(t.s)).toMatchObject({ unread_count: 0, hidden_count: 0, base_count: 0 });
    for (const d of [t.r1, t.r2, t.late]) {
      expect(of(d)).toMatchObject({ unread_count: 1, hidden_count: 0, base_count: 0 });
      const page = await t.api(d, "GET", `/messages/conversations/${t.g}/messages`);
      expect(page.body.total).toBe(1);
    }
  }

  it("a run that stalls past its lease: the run that takes its batch over finishes it, and the stalled one, back, does nothing twice", async () => {
    const t = await counted();
    let tookOver = -1;
    const erased = await expireMessages(a.deps, a.clock.now(), {
      afterClaim: async () => {
        // a stalls past its lease here: b's clock moves on, and b's run takes a's batch over.
        b.clock.advance(LEASE_MS / 1000 + 1);
        tookOver = await expireMessages(b.deps, b.clock.now());
        expect(await a.raw("messages").countDocuments({ _id: new ObjectId(t.ids[0]) })).toBe(0);
      },
    });
    expect(tookOver).toBe(5);
    expect(erased).toBe(0);
    await expectExact(t);
    for (const d of t.devices) expect((await expiredIn(a, d)).sort()).toEqual([...t.ids].sort());
    expect(await a.raw("expiry_batches").countDocuments({})).toBe(0);
  });

  it("a run that loses the claim to another leaves the batch to it", async () => {
    const t = await counted();
    let first = -1;
    const erased = await expireMessages(a.deps, a.clock.now(), {
      beforeClaim: async () => {
        first = await expireMessages(b.deps, b.clock.now());
      },
    });
    expect(first).toBe(5);
    expect(erased).toBe(0);
    await expectExact(t);
    for (const d of t.devices) expect((await expiredIn(b, d)).sort()).toEqual([...t.ids].sort());
  });

  it("a run that dies after its claim: its batch is left alone within the lease, then finished by another run: counted and announced once", async () => {
    const t = await counted();
    const crash = expireMessages(a.deps, a.clock.now(), {
      afterClaim: async () => {
        throw new Error("the process died here");
      },
    });
    await expect(crash).rejects.toThrow("died");
    expect(await expireMessages(b.deps, b.clock.now())).toBe(0);
    expect(await a.raw("messages").countDocuments({ conversation_id: new ObjectId(t.g) })).toBe(6);
    b.clock.advance(LEASE_MS / 1000);
    expect(await expireMessages(b.deps, b.clock.now())).toBe(5);
    const _ids = t.ids.map((id) => new ObjectId(id));
    expect(await a.raw("message_keys").countDocuments({ message_id: { $in: _ids } })).toBe(0);
    await expectExact(t);
    for (const d of t.devices) expect((await expiredIn(a, d)).sort()).toEqual([...t.ids].sort());
    expect(await a.raw("expiry_batches").countDocuments({})).toBe(0);
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

describe("the message expiry job yields to live work", () => {
  /** `n` messages of a new conversation, expired on both clocks. */
  async function expiring(n: number) {
    const [s, r] = [await newAccount(a), await newAccount(a)];
    const c = await direct(a, s, r);
    for (let i = 0; i < n; i++) await send(a, s, c, `e${i}`, { ttl_seconds: 5 });
    alignClocks();
    a.clock.advance(5);
    b.clock.advance(5);
  }
  /** The job's run, and the batches it took (each claim is preceded by beforeClaim). */
  async function run(afterClaim?: () => Promise<void>) {
    let batches = 0;
    const erased = await expireMessages(a.deps, a.clock.now(), {
      beforeClaim: async () => void batches++,
      afterClaim,
    });
    return { erased, batches };
  }

  it("takes batches a fiftieth the size while requests or socket events are under way, full ones when none are", async () => {
    await expiring(14);
    let done!: () => void;
    const live = a.deps.load.track(new Promise<void>((r) => (done = r)));
    expect(a.deps.load.busy()).toBe(true);
    const busy = await run();
    done();
    await live;
    expect(busy.erased).toBe(14);
    expect(busy.batches).toBe(14); // EXPIRY_BATCH 7: batches of 1 (7 / 50, rounded up) while busy

    await expiring(14);
    expect(a.deps.load.busy()).toBe(false);
    const quiet = await run();
    // Nothing came: the size doubles from the small one up to EXPIRY_BATCH, 1 + 2 + 4 + 7.
    expect(quiet).toEqual({ erased: 14, batches: 4 });
  });

  it("takes a small batch after live work that came and went while the last one ran", async () => {
    // A request handled during each batch, over before the job chooses the next one's size: a
    // choice by what runs at that instant alone took full batches (2 of 7) in steady traffic.
    await expiring(14);
    const request = () => a.deps.load.track(Promise.resolve());
    expect(await run(request)).toEqual({ erased: 14, batches: 14 });
    expect(a.deps.load.busy()).toBe(false);
  });

  it("counts a request as live work while it is handled", async () => {
    const [s, r] = [await newAccount(a), await newAccount(a)];
    const c = await direct(a, s, r);
    const seen: boolean[] = [];
    const before = a.deps.checkpoint;
    a.deps.checkpoint = () => void seen.push(a.deps.load.busy()); // called at each step of a send
    try {
      await send(a, s, c, "live");
    } finally {
      a.deps.checkpoint = before;
    }
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every(Boolean)).toBe(true);
    expect(a.deps.load.busy()).toBe(false);
  });
});
