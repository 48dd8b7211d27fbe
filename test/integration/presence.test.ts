import { ObjectId } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { refreshSockets } from "../../src/delivery/presence.js";
import { type Account, type Hush, logIn, signUp, startHush } from "../helpers/hush.js";
import { type Client, connect } from "../helpers/ws.js";

let h: Hush;
beforeAll(async () => {
  h = await startHush();
});
afterAll(() => h?.close());

async function befriend(a: Account, b: Account) {
  expect((await h.req("POST", "/api/v1/contacts", { token: a.token, body: { user_id: b.id } })).status).toBe(
    201,
  );
  expect((await h.req("POST", `/api/v1/contacts/${a.id}/accept`, { token: b.token })).status).toBe(200);
}

/** Everything a socket has been sent up to now: a ping's pong comes after whatever was queued before it. */
async function settled(c: Client) {
  await c.ask({ type: "ping" }, "pong");
  return c.seen("user_status");
}

const statusOf = async (viewer: Account, target: Account) =>
  (await h.req("GET", `/api/v1/users/${target.id}`, { token: viewer.token })).body.status;

const FIVE_MINUTES = 300_000;

describe("presence", () => {
  it("contacts see a user come online with the first socket and go offline with the last", async () => {
    const [a, b] = [await signUp(h), await signUp(h)];
    await befriend(a, b);
    const watcher = await connect(h, b.token);
    expect(await statusOf(b, a)).toMatchObject({ online: false });

    const first = await connect(h, a.token);
    const online = await watcher.client.next("user_status");
    expect(online.data).toMatchObject({ user_id: a.id, online: true });
    expect(await statusOf(b, a)).toMatchObject({ online: true });
    expect((await h.req("GET", "/api/v1/users/me", { token: a.token })).body.status.online).toBe(true);

    const laptop = await logIn(h, a.email, "laptop");
    const second = await connect(h, laptop.res.body.session_token);
    await first.client.close();
    // Still online on the laptop. (Sockets opening and closing at once may repeat "online": an
    // announcement says the state, so a repeat is harmless; never a wrong "offline".)
    expect((await settled(watcher.client)).filter((e) => !e.data.online)).toEqual([]);

    const before = Date.parse(
      (await h.req("GET", "/api/v1/users/me", { token: a.token })).body.status.last_seen,
    );
    h.clock.advance(5);
    await second.client.close();
    let offline = await watcher.client.next("user_status");
    while (offline.data.online) offline = await watcher.client.next("user_status");
    expect(offline.data).toMatchObject({ user_id: a.id, online: false });
    // Others see last seen to the 5 minutes (the user sees their own exactly).
    const own = Date.parse(
      (await h.req("GET", "/api/v1/users/me", { token: a.token })).body.status.last_seen,
    );
    expect(own).toBeGreaterThan(before);
    expect(Date.parse(offline.data.last_seen)).toBe(own - (own % FIVE_MINUTES));
    expect(await statusOf(b, a)).toMatchObject({ online: false, last_seen: offline.data.last_seen });
    await watcher.client.close();
  });

  it("one rule everywhere: a contact sees it, to 5 minutes; a stranger, a co-member and a blocked contact see nothing", async () => {
    h.clock.advance(7 * 60 + 13); // off a 5-minute boundary, so exact and coarse differ
    const [a, contact, stranger, coMember, blocked] = await Promise.all([
      signUp(h),
      signUp(h),
      signUp(h),
      signUp(h),
      signUp(h),
    ]);
    await befriend(a, contact);
    await befriend(a, blocked);
    expect((await h.req("POST", `/api/v1/users/${blocked.id}/block`, { token: a.token })).status).toBe(204);
    const made = await h.req("POST", "/api/v1/conversations/groups", {
      token: coMember.token,
      body: { name: "Team", participant_ids: [a.id, contact.id] },
    });
    expect(made.status).toBe(201);
    const watchers = await Promise.all(
      [contact, stranger, coMember, blocked].map((w) => connect(h, w.token)),
    );
    const s = await connect(h, a.token);
    const heard = await watchers[0]!.client.next("user_status");
    const now = h.clock.now().getTime();
    expect(heard.data).toEqual({
      user_id: a.id,
      online: true,
      last_seen: new Date(now - (now % FIVE_MINUTES)).toISOString(),
    });
    for (const w of watchers.slice(1)) expect(await settled(w.client)).toEqual([]);

    // REST user view.
    const contactView = await statusOf(contact, a);
    expect(contactView).toEqual({ online: true, last_seen: expect.any(String) });
    expect(Date.parse(contactView.last_seen) % FIVE_MINUTES).toBe(0);
    expect(await statusOf(stranger, a)).toBeNull();
    expect(await statusOf(coMember, a)).toBeNull();
    // Conversation participants.
    const participant = async (viewer: Account) =>
      (
        await h.req("GET", `/api/v1/conversations/${made.body.id}`, { token: viewer.token })
      ).body.participants.find((p: { user_id: string }) => p.user_id === a.id);
    expect(await participant(coMember)).toMatchObject({ online: false, last_seen: null });
    const seenByContact = await participant(contact);
    expect(seenByContact).toMatchObject({ online: true, last_seen: contactView.last_seen });
    await s.client.close();
    for (const w of watchers) await w.client.close();
  });

  it("people who are not contacts hear nothing", async () => {
    const [a, b, stranger] = [await signUp(h), await signUp(h), await signUp(h)];
    await befriend(a, b);
    const contact = await connect(h, b.token);
    const other = await connect(h, stranger.token);
    const s = await connect(h, a.token);
    await contact.client.next("user_status");
    expect(await settled(other.client)).toEqual([]);
    for (const c of [contact, other, s]) await c.client.close();
  });

  it("a user who hides their status is never announced and shows no status", async () => {
    const [a, b] = [await signUp(h), await signUp(h)];
    await befriend(a, b);
    const hide = await h.req("PATCH", "/api/v1/users/me", {
      token: a.token,
      body: { privacy: { show_online_status: false } },
    });
    expect(hide.status).toBe(200);
    const contact = await connect(h, b.token);
    const s = await connect(h, a.token);
    expect(await settled(contact.client)).toEqual([]);
    expect(await statusOf(b, a)).toBeNull();
    // The user still sees their own (the socket's presence is recorded just after `authenticated`).
    const own = async () => (await h.req("GET", "/api/v1/users/me", { token: a.token })).body.status.online;
    for (let i = 0; i < 50 && !(await own()); i++) await new Promise((r) => setTimeout(r, 20));
    expect(await own()).toBe(true);
    await s.client.close();
    expect(await settled(contact.client)).toEqual([]);
    await contact.client.close();
  });

  it("a block either way stops the announcements and hides the status", async () => {
    const [a, b] = [await signUp(h), await signUp(h)];
    await befriend(a, b);
    expect((await h.req("POST", `/api/v1/users/${a.id}/block`, { token: b.token })).status).toBe(204);
    const watcher = await connect(h, b.token);
    const s = await connect(h, a.token);
    expect(await settled(watcher.client)).toEqual([]);
    expect(await statusOf(b, a)).toBeNull();
    await s.client.close();
    await watcher.client.close();
  });

  it("a heartbeat refreshes every socket, in updates small enough not to hold the store's writes", async () => {
    const user = new ObjectId();
    const old = new Date(h.clock.now().getTime() + 1000);
    const docs = Array.from({ length: 250 }, (_, i) => ({
      _id: new ObjectId(),
      user_id: user,
      device_id: `d${i}`,
      expires_at: old,
    }));
    await h.raw("presence").insertMany(docs);
    await refreshSockets(
      h.deps,
      docs.map((d) => d._id),
    );
    const after = await h.raw("presence").find({ user_id: user }).toArray();
    expect(after).toHaveLength(250);
    expect(after.filter((d) => d.expires_at.getTime() <= old.getTime())).toEqual([]);
    await h.raw("presence").deleteMany({ user_id: user });
  });
});
