import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Account, type Hush, mayMessage, signUp, startHush, uniqueUsername } from "../helpers/hush.js";
import { seededRandom } from "../helpers/seed.js";

const random = seededRandom();

let h: Hush;
beforeAll(async () => {
  h = await startHush();
});
afterAll(() => h?.close());

const request = (from: Account, body: Record<string, unknown>) =>
  h.req("POST", "/api/v1/contacts", { token: from.token, body });
const accept = (by: Account, from: Account) =>
  h.req("POST", `/api/v1/contacts/${from.id}/accept`, { token: by.token });
const remove = (by: Account, other: Account) =>
  h.req("DELETE", `/api/v1/contacts/${other.id}`, { token: by.token });
const list = (a: Account, query = "") => h.req("GET", `/api/v1/contacts${query}`, { token: a.token });
const statusOf = async (a: Account, b: Account) =>
  (await list(a)).body.contacts.find((e: any) => e.user_id === b.id)?.status ?? null;

describe("contact requests", () => {
  it("request, accept, and both sides see each step", async () => {
    const [a, b] = [await signUp(h), await signUp(h)];
    const sent = await request(a, { user_id: b.id });
    expect(sent.status).toBe(201);
    expect(sent.body).toMatchObject({ user_id: b.id, username: b.username, status: "requested" });
    expect(sent.body).toMatchObject({ full_name: "Test User", avatar_url: null, display_name: null });
    expect(await statusOf(b, a)).toBe("incoming");

    const ok = await accept(b, a);
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ user_id: a.id, status: "accepted" });
    expect(await statusOf(a, b)).toBe("accepted");
    expect(await statusOf(b, a)).toBe("accepted");
  });

  it("finds the user by username, ignoring case, only if discoverable that way", async () => {
    const [a, b, c] = [await signUp(h), await signUp(h), await signUp(h)];
    const sent = await request(a, { username: b.username.toUpperCase() });
    expect(sent.status).toBe(201);
    expect(sent.body.user_id).toBe(b.id);

    const hide = { privacy: { discoverable_by_username: false } };
    expect((await h.req("PATCH", "/api/v1/users/me", { token: c.token, body: hide })).status).toBe(200);
    const hidden = await request(a, { username: c.username });
    expect(hidden.status).toBe(404);
    expect(hidden.body.code).toBe("USER_NOT_FOUND");
  });

  it("a request to someone who already asked accepts theirs", async () => {
    const [a, b] = [await signUp(h), await signUp(h)];
    expect((await request(a, { user_id: b.id })).status).toBe(201);
    const back = await request(b, { user_id: a.id, display_name: "Alice" });
    expect(back.status).toBe(200);
    expect(back.body).toMatchObject({ user_id: a.id, status: "accepted", display_name: "Alice" });
    expect(await statusOf(a, b)).toBe("accepted");
  });

  it("two users asking each other at once end up contacts", async () => {
    const [a, b] = [await signUp(h), await signUp(h)];
    const res = await Promise.all([request(a, { user_id: b.id }), request(b, { user_id: a.id })]);
    for (const r of res) expect([200, 201]).toContain(r.status);
    expect(await statusOf(a, b)).toBe("accepted");
    expect(await statusOf(b, a)).toBe("accepted");
  });

  it("two requests at once stay contacts when the second finishes after the first accepted both halves", async () => {
    // Forces the interleaving: b's request writes its half and stops; a's request then finds it
    // and accepts both halves; b's request goes on and meets a's half already accepted.
    const [a, b] = [await signUp(h), await signUp(h)];
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    let reached!: () => void;
    const bWrote = new Promise<void>((r) => {
      reached = r;
    });
    let first = true;
    const before = h.deps.checkpoint;
    h.deps.checkpoint = async (step) => {
      if (step !== "contact-request:mine" || !first) return;
      first = false;
      reached();
      await held;
    };
    try {
      const bAsks = request(b, { user_id: a.id });
      await bWrote;
      const aAsks = await request(a, { user_id: b.id });
      expect([200, 201]).toContain(aAsks.status);
      expect(await statusOf(a, b)).toBe("accepted");
      release();
      expect([200, 201]).toContain((await bAsks).status);
    } finally {
      release();
      h.deps.checkpoint = before;
    }
    expect(await statusOf(a, b)).toBe("accepted");
    expect(await statusOf(b, a)).toBe("accepted");
  });

  it("the same request sent twice at once is created once", async () => {
    const [a, b] = [await signUp(h), await signUp(h)];
    const res = await Promise.all([request(a, { user_id: b.id }), request(a, { user_id: b.id })]);
    expect(res.map((r) => r.status).sort()).toEqual([201, 409]);
    expect((await list(b)).body.contacts).toHaveLength(1);
    expect(await statusOf(b, a)).toBe("incoming");
  });
});

describe("invalid transitions", () => {
  it("rejects bad targets", async () => {
    const a = await signUp(h);
    const self = await request(a, { user_id: a.id });
    expect(self.status).toBe(400);
    expect(self.body.fields.user_id).toBeTruthy();
    const unknown = await request(a, { user_id: "0123456789abcdef01234567" });
    expect(unknown.status).toBe(404);
    expect(unknown.body.code).toBe("USER_NOT_FOUND");
    expect((await request(a, { username: "nobody_by_that_name" })).body.code).toBe("USER_NOT_FOUND");
    expect((await request(a, {})).status).toBe(400);
    const both = await request(a, { user_id: a.id, username: a.username });
    expect(both.body.code).toBe("VALIDATION_ERROR");
    expect((await request(a, { user_id: "nope" })).status).toBe(400);
  });

  it("rejects repeats and wrong-side accepts", async () => {
    const [a, b, c] = [await signUp(h), await signUp(h), await signUp(h)];
    expect((await request(a, { user_id: b.id })).status).toBe(201);
    const twice = await request(a, { user_id: b.id });
    expect(twice.status).toBe(409);
    expect(twice.body.code).toBe("CONFLICT");

    const own = await accept(a, b);
    expect(own.status).toBe(409);
    expect(own.body.code).toBe("INVALID_STATE");
    const never = await accept(a, c);
    expect(never.status).toBe(404);
    expect(never.body.code).toBe("NOT_FOUND");

    expect((await accept(b, a)).status).toBe(200);
    const again = await accept(b, a);
    expect(again.status).toBe(409);
    expect(again.body.code).toBe("INVALID_STATE");
    const already = await request(b, { user_id: a.id });
    expect(already.status).toBe(409);
    expect(already.body.detail).toMatch(/already contacts/i);
  });

  it("delete cancels, rejects and removes for both sides; nothing there is 404", async () => {
    const [a, b] = [await signUp(h), await signUp(h)];
    const none = await remove(a, b);
    expect(none.status).toBe(404);
    expect(none.body.code).toBe("NOT_FOUND");

    await request(a, { user_id: b.id });
    expect((await remove(a, b)).status).toBe(204);
    expect(await statusOf(b, a)).toBeNull();

    await request(a, { user_id: b.id });
    expect((await remove(b, a)).status).toBe(204);
    expect(await statusOf(a, b)).toBeNull();
    expect((await accept(b, a)).status).toBe(404);

    await request(a, { user_id: b.id });
    await accept(b, a);
    expect((await remove(b, a)).status).toBe(204);
    expect((await list(a)).body.contacts).toEqual([]);
    expect((await list(b)).body.contacts).toEqual([]);
    expect((await remove(a, b)).status).toBe(404);
  });
});

describe("display names", () => {
  it("are the caller's own and can be cleared", async () => {
    const [a, b] = [await signUp(h), await signUp(h)];
    expect((await request(a, { user_id: b.id, display_name: "  Bobby  " })).body.display_name).toBe("Bobby");
    await accept(b, a);
    const path = `/api/v1/contacts/${b.id}`;
    const set = await h.req("PATCH", path, { token: a.token, body: { display_name: "Robert" } });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({ user_id: b.id, display_name: "Robert", status: "accepted" });
    expect((await list(b)).body.contacts[0].display_name).toBeNull();

    const cleared = await h.req("PATCH", path, { token: a.token, body: { display_name: null } });
    expect(cleared.body.display_name).toBeNull();
    for (const display_name of ["", "x".repeat(65), 5]) {
      const bad = await h.req("PATCH", path, { token: a.token, body: { display_name } });
      expect(bad.status).toBe(400);
    }
    const stranger = await signUp(h);
    const missing = await h.req("PATCH", `/api/v1/contacts/${stranger.id}`, {
      token: a.token,
      body: { display_name: "Who" },
    });
    expect(missing.status).toBe(404);
  });
});

describe("listing", () => {
  it("pages, filters by status and searches names and usernames", async () => {
    const a = await signUp(h);
    const others = [];
    for (let i = 0; i < 5; i++) others.push(await signUp(h, { username: uniqueUsername(`f${i}ndMe`) }));
    for (const [i, o] of others.entries()) {
      await request(a, { user_id: o.id, display_name: i === 0 ? "Zed (work)" : undefined });
    }
    await accept(others[1]!, a);
    await request(others[2]!, { user_id: a.id }); // auto-accepts
    const incoming = await signUp(h);
    h.clock.advance(1); // newest first goes by created_at; ids are random, so ties have no order
    await request(incoming, { user_id: a.id });

    const first = await list(a, "?limit=2");
    expect(first.status).toBe(200);
    expect(first.body.pagination).toEqual({ total: 6, limit: 2, offset: 0, has_more: true });
    expect(first.body.contacts).toHaveLength(2);
    const last = await list(a, "?limit=2&offset=4");
    expect(last.body.pagination).toEqual({ total: 6, limit: 2, offset: 4, has_more: false });
    const all = await list(a, "?limit=100");
    expect(all.body.pagination.limit).toBe(100);
    expect(new Set(all.body.contacts.map((e: any) => e.user_id)).size).toBe(6);
    expect(all.body.contacts[0].user_id).toBe(incoming.id);
    expect((await list(a)).body.pagination.limit).toBe(20);

    const accepted = await list(a, "?status=accepted");
    expect(accepted.body.contacts.map((e: any) => e.user_id).sort()).toEqual(
      [others[1]!.id, others[2]!.id].sort(),
    );
    expect((await list(a, "?status=incoming")).body.contacts.map((e: any) => e.user_id)).toEqual([
      incoming.id,
    ]);
    expect((await list(a, "?status=requested")).body.pagination.total).toBe(3);

    const byName = await list(a, `?search=${encodeURIComponent("ZED (WORK")}`);
    expect(byName.body.contacts.map((e: any) => e.user_id)).toEqual([others[0]!.id]);
    const byUser = await list(a, "?search=F3NDme");
    expect(byUser.body.contacts.map((e: any) => e.user_id)).toEqual([others[3]!.id]);
    expect((await list(a, "?search=.*")).body.contacts).toEqual([]);
    const narrowed = await list(a, `?search=${others[3]!.username}&status=accepted`);
    expect(narrowed.body.pagination.total).toBe(0);

    for (const q of ["?limit=0", "?limit=101", "?offset=-1", "?status=blocked", "?limit=abc"]) {
      expect((await list(a, q)).status, q).toBe(400);
    }
    expect((await h.req("GET", "/api/v1/contacts")).status).toBe(401);
  });
});

describe("request limit", () => {
  it("allows 50 contact requests an hour per user, then 429 with Retry-After", async () => {
    const a = await signUp(h);
    const nobody = () =>
      `${Math.floor(random() * 1e8)
        .toString(16)
        .padStart(8, "0")}0000000000000000`;
    const statuses = [];
    for (let i = 0; i < 51; i++) {
      statuses.push(
        (await h.req("POST", "/api/v1/contacts", { token: a.token, body: { user_id: nobody() } })).status,
      );
    }
    expect(statuses.slice(0, 50).every((s) => s === 404)).toBe(true);
    const last = await h.req("POST", "/api/v1/contacts", { token: a.token, body: { user_id: nobody() } });
    expect(statuses[50]).toBe(429);
    expect(last).toMatchObject({ status: 429, body: { code: "RATE_LIMITED" } });
    expect(Number(last.headers.get("retry-after"))).toBeGreaterThan(0);
    // Retry-After (up to two windows: the hour slides) outlasts the access token; refresh it.
    h.clock.advance(Math.max(Number(last.headers.get("retry-after")), 901));
    const fresh = await h.req("POST", "/api/v1/auth/refresh", { body: { refresh_token: a.refresh } });
    const again = await h.req("POST", "/api/v1/contacts", {
      token: fresh.body.session_token,
      body: { user_id: nobody() },
    });
    expect(again.status).toBe(404);
  });
});

describe("canMessage", () => {
  it("follows allow_messages_from: everyone, or accepted contacts only", async () => {
    const [a, b] = [await signUp(h), await signUp(h)];
    expect(await mayMessage(h, a.id, b.id)).toBe(true);
    const contactsOnly = { privacy: { allow_messages_from: "contacts" } };
    expect((await h.req("PATCH", "/api/v1/users/me", { token: b.token, body: contactsOnly })).status).toBe(
      200,
    );
    expect(await mayMessage(h, a.id, b.id)).toBe(false);
    expect(await mayMessage(h, b.id, a.id)).toBe(true);

    await request(a, { user_id: b.id });
    expect(await mayMessage(h, a.id, b.id)).toBe(false);
    await accept(b, a);
    expect(await mayMessage(h, a.id, b.id)).toBe(true);
    await remove(a, b);
    expect(await mayMessage(h, a.id, b.id)).toBe(false);

    expect(await mayMessage(h, b.id, b.id)).toBe(true);
    expect(await mayMessage(h, a.id, "0123456789abcdef01234567")).toBe(false);
  });
});
