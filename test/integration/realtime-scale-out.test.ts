import { randomBytes } from "node:crypto";
import { ObjectId } from "mongodb";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { FEED_MAX_DOCS } from "../../src/delivery/bus.js";
import type { EntryInput } from "../../src/delivery/change.js";
import type { Deps } from "../../src/deps.js";
import { type Account, type Hush, logIn, signUp, startHush } from "../helpers/hush.js";
import { hostOf, startProxy } from "../helpers/proxy.js";
import { connect } from "../helpers/ws.js";

/** Entries straight into the streams, past the door (deliver.ts): the writer alone. */
const append = (deps: Deps, inputs: readonly EntryInput[]) => deps.writer.append(inputs);

// Two server processes' worth of state (separate apps, buses, sockets, feed tailers) over one database.
let a: Hush;
let b: Hush;
const dbName = `hush_rt_scale_${randomBytes(4).toString("hex")}`;
const secret = randomBytes(32).toString("hex");
beforeAll(async () => {
  a = await startHush({ JWT_SECRET: secret }, { dbName });
  b = await startHush({ JWT_SECRET: secret }, { dbName });
});
afterAll(async () => {
  await a?.close();
  await b?.close();
});

const entry = (who: Account, deviceId: string, n: number): EntryInput => ({
  user_id: new ObjectId(who.id),
  device_id: deviceId,
  type: "contacts_updated",
  data: { user_id: who.id, status: "accepted", display_name: `n${n}` },
  refs: [],
});

describe("several server processes on one database", () => {
  it("an entry written on one process reaches a socket on the other", async () => {
    const alice = await signUp(a);
    const bob = await signUp(a);
    const onB = await connect(b, bob.token);
    await a.req("POST", "/api/v1/contacts", { token: alice.token, body: { user_id: bob.id } });
    const got = await onB.client.next("contacts_updated");
    expect(got.data).toEqual({ user_id: alice.id, status: "incoming", display_name: null });
    await onB.client.close();
  });

  it("writers on both processes interleave, and a socket still gets every position once, in order", async () => {
    const alice = await signUp(a);
    const onB = await connect(b, alice.token);
    const writes = Array.from({ length: 40 }, (_, n) =>
      append(n % 2 ? a.deps : b.deps, [entry(alice, alice.deviceId, n)]),
    );
    const placed = (await Promise.all(writes)).flat().map((p) => p.position);
    expect(placed.sort((x, y) => x - y)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    const live = [];
    for (let i = 0; i < 40; i++) live.push((await onB.client.next("contacts_updated")).position);
    expect(live).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    await onB.client.close();
  });

  it("a logout on one process closes that session's socket on the other with 4001", async () => {
    const alice = await signUp(a);
    const onB = await connect(b, alice.token);
    expect((await a.req("POST", "/api/v1/auth/logout", { token: alice.token })).status).toBe(204);
    expect(await onB.client.closed).toEqual({ code: 4001, reason: "session revoked or ended" });
  });

  it("removing a device closes its sockets everywhere with 4002, and only its", async () => {
    const alice = await signUp(a);
    const other = await logIn(a, alice.email, "other-device");
    const otherToken = other.res.body.session_token as string;
    const first = await connect(b, alice.token);
    const second = await connect(a, otherToken);
    expect((await a.req("DELETE", `/api/v1/devices/${alice.deviceId}`, { token: otherToken })).status).toBe(
      204,
    );
    expect((await first.client.closed).code).toBe(4002);
    const pong = await second.client.ask({ type: "ping" }, "pong");
    expect(pong.type).toBe("pong");
    await second.client.close();
  });

  it("deleting the account closes every socket of it, on every process, with 4003", async () => {
    const alice = await signUp(a);
    const other = await logIn(a, alice.email, "other-device");
    const s1 = await connect(a, alice.token);
    const s2 = await connect(b, other.res.body.session_token as string);
    expect((await b.req("DELETE", "/api/v1/users/me", { token: alice.token })).status).toBe(204);
    expect((await s1.client.closed).code).toBe(4003);
    expect((await s2.client.closed).code).toBe(4003);
  });

  it("the feed is kept near its cap however many notices pass through it", async () => {
    // On MongoDB the capped collection trims itself; on the local store the tailers compact it,
    // counting it only once enough notices came by (a count reads every document there). A tailer
    // reads at once only while its process has a socket (the next test): a has one here.
    const held = await connect(a, (await signUp(a)).token);
    const feedCol = a.raw("realtime_feed");
    await Promise.all(
      Array.from({ length: 3 * FEED_MAX_DOCS }, () => a.deps.bus.publish({ kind: "entries", targets: [] })),
    );
    let count = await feedCol.countDocuments();
    for (let i = 0; i < 100 && count > FEED_MAX_DOCS * 1.25; i++) {
      await new Promise((r) => setTimeout(r, 100));
      count = await feedCol.countDocuments();
    }
    expect(count).toBeLessThanOrEqual(FEED_MAX_DOCS * 1.25);
    // and the feed still carries notices between the processes afterwards
    const alice = await signUp(a);
    const onB = await connect(b, alice.token);
    await append(a.deps, [entry(alice, alice.deviceId, 1)]);
    expect((await onB.client.next("contacts_updated")).position).toBe(1);
    await onB.client.close();
    await held.client.close();
  });

  it("a process with no socket hardly reads the feed, and one opening there hears the next notice at once", async () => {
    const c = await startHush({ JWT_SECRET: secret }, { dbName });
    const polls: number[] = [];
    c.deps.store.client.on("commandStarted", (e) => {
      if (e.commandName === "getMore") polls.push(Date.now());
    });
    try {
      const alice = await signUp(a);
      // c's tailer has found its place once a notice from a reaches a socket there.
      const first = await connect(c, alice.token);
      await append(a.deps, [entry(alice, alice.deviceId, 1)]);
      expect((await first.client.next("contacts_updated")).position).toBe(1);
      await first.client.close();
      const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
      while (c.server.realtime.hub.size > 0) await sleep(10);
      // No socket: once the polls under way are done (none for 200 ms; with a socket open there is
      // one every 50 ms), the next waits 10 s.
      for (let i = 0; i < 30 && Date.now() - (polls.at(-1) ?? 0) < 200; i++) await sleep(100);
      const since = Date.now();
      await sleep(1_500);
      expect(polls.filter((t) => t >= since).length).toBeLessThanOrEqual(1);
      // A socket opens: the tailer polls now, not when its pause would have ended (8 s on).
      const second = await connect(c, alice.token);
      await append(a.deps, [entry(alice, alice.deviceId, 2)]);
      expect((await second.client.next("contacts_updated", 5_000)).position).toBe(2);
      await second.client.close();
    } finally {
      await c.close({ shared: true });
    }
  });

  it("a process that loses its feed cursor catches its sockets up when it is back, losing nothing", async () => {
    const proxy = await startProxy(hostOf(inject("mongoUri")));
    const c = await startHush(
      { JWT_SECRET: secret },
      { dbName, uri: `mongodb://127.0.0.1:${proxy.port}/?directConnection=true` },
    );
    // The driver's view of the store, event by event, for the diagnostic below.
    const seen: string[] = [];
    type Seen = { failure?: Error; newDescription?: { type: string }; connectionId?: unknown };
    for (const name of [
      "serverHeartbeatStarted",
      "serverHeartbeatSucceeded",
      "serverHeartbeatFailed",
      "serverDescriptionChanged",
      "connectionPoolCleared",
      "connectionPoolReady",
    ])
      c.deps.store.client.on(name as "serverHeartbeatFailed", (e: Seen) =>
        seen.push(
          `${new Date().toISOString()} driver ${name} ${e.newDescription?.type ?? ""} ${e.failure?.message ?? ""}`,
        ),
      );
    try {
      const alice = await signUp(a);
      const onC = await connect(c, alice.token);
      await append(a.deps, [entry(alice, alice.deviceId, 1)]);
      expect((await onC.client.next("contacts_updated")).position).toBe(1);
      proxy.cut(); // c loses the database: its tailer's cursor with it
      await append(
        a.deps,
        [2, 3, 4].map((n) => entry(alice, alice.deviceId, n)),
      );
      await new Promise((r) => setTimeout(r, 300));
      proxy.restore();
      const caught = [];
      try {
        for (let i = 0; i < 3; i++) caught.push(await onC.client.next("contacts_updated", 15_000));
      } catch (e) {
        // What the server said, and what its driver thinks of the store. It showed the driver's
        // heartbeat started at the cut and never ending (one run in three under load), fixed by
        // patches/mongodb+7.8.0.patch (docs/durability.md; test/store/driver.test.ts forces it).
        const said = c.logs
          .filter((l) => /warn|error/.test(l))
          .map((l) => {
            try {
              const j = JSON.parse(l) as {
                time: string;
                msg: string;
                error?: { name: string; message: string };
              };
              return `${j.time} ${j.msg}: ${j.error?.name} ${j.error?.message}`;
            } catch {
              return l.slice(0, 400);
            }
          });
        type Described = { address: string; type: string; error?: { message: string } | null };
        const { topology } = c.deps.store.client as unknown as {
          topology?: { description: { servers: Map<string, Described> } };
        };
        const servers = [...(topology?.description.servers.values() ?? [])];
        console.log(
          [
            ...said,
            ...seen,
            ...servers.map((d) => `driver: ${d.address} ${d.type} ${d.error?.message ?? ""}`),
          ].join("\n"),
        );
        throw e;
      }
      expect(caught.map((e) => [e.position, e.data])).toEqual(
        [2, 3, 4].map((n) => [n, { user_id: alice.id, status: "accepted", display_name: `n${n}` }]),
      );
      await onC.client.close();
    } finally {
      await c.close({ shared: true });
      await proxy.close();
    }
  });
});
