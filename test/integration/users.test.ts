import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Hush, logIn, signUp, startHush, uniqueUsername } from "../helpers/hush.js";

let h: Hush;
beforeAll(async () => {
  h = await startHush();
});
afterAll(() => h?.close());

const patch = (token: string, body: object) => h.req("PATCH", "/api/v1/users/me", { token, body });

describe("profiles", () => {
  it("PATCH /users/me changes profile, username and privacy, and /auth/me shows it", async () => {
    const a = await signUp(h);
    const username = uniqueUsername("New");
    const r = await patch(a.token, {
      username,
      bio: "bio",
      avatar_url: "https://cdn.example.com/a.png",
      privacy: { show_online_status: false, allow_messages_from: "contacts" },
    });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      username,
      profile: { bio: "bio", avatar_url: "https://cdn.example.com/a.png", full_name: "Test User" },
      privacy: { show_online_status: false, allow_messages_from: "contacts", read_receipts: true },
    });
    expect((await h.req("GET", "/api/v1/auth/me", { token: a.token })).body.username).toBe(username);
  });

  it("refuses an empty patch, unknown fields and a taken username", async () => {
    const a = await signUp(h);
    const b = await signUp(h);
    expect((await patch(a.token, {})).status).toBe(400);
    expect((await patch(a.token, { email: "x@example.com" })).status).toBe(400);
    const taken = await patch(a.token, { username: b.username.toUpperCase() });
    expect(taken).toMatchObject({
      status: 409,
      body: { code: "USERNAME_TAKEN", fields: { username: expect.any(String) } },
    });
    expect((await patch(a.token, { username: a.username })).status).toBe(200);
  });

  it("GET /users/{id} shows the public profile only, and status only if shared", async () => {
    const a = await signUp(h);
    const b = await signUp(h);
    await patch(b.token, { mobile: "+441234567890", bio: "hi" });
    const r = await h.req("GET", `/api/v1/users/${b.id}`, { token: a.token });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      id: b.id,
      username: b.username,
      profile: { full_name: "Test User", bio: "hi", avatar_url: null },
      status: { online: false, last_seen: expect.any(String) },
    });
    expect(JSON.stringify(r.body)).not.toContain(b.email);
    expect(JSON.stringify(r.body)).not.toContain("+441234567890");
    await patch(b.token, { privacy: { show_online_status: false } });
    expect((await h.req("GET", `/api/v1/users/${b.id}`, { token: a.token })).body.status).toBeNull();
    expect((await h.req("GET", "/api/v1/users/507f1f77bcf86cd799439011", { token: a.token })).status).toBe(
      404,
    );
  });

  it("search finds exact usernames and emails, only where the user allows it", async () => {
    const a = await signUp(h);
    const b = await signUp(h);
    const find = async (q: string) =>
      (await h.req("GET", `/api/v1/users/search?q=${encodeURIComponent(q)}`, { token: a.token })).body.users;
    expect((await find(b.username.toUpperCase())).map((u: any) => u.id)).toEqual([b.id]);
    expect((await find(b.email)).map((u: any) => u.id)).toEqual([b.id]);
    expect(await find(b.username.slice(0, -1))).toEqual([]);
    await patch(b.token, { privacy: { discoverable_by_email: false } });
    expect(await find(b.email)).toEqual([]);
    expect(await find(b.username)).toHaveLength(1);
    await patch(b.token, { privacy: { discoverable_by_username: false } });
    expect(await find(b.username)).toEqual([]);
    expect((await h.req("GET", "/api/v1/users/search?q=ab", { token: a.token })).status).toBe(400);
  });
});

describe("account deletion", () => {
  it("erases sessions, devices and keys at once, and frees the email", async () => {
    const a = await signUp(h);
    const second = (await logIn(h, a.email, "second")).res.body;
    const b = await signUp(h);
    const del = await h.req("DELETE", "/api/v1/users/me", { token: a.token });
    expect(del.status).toBe(204);
    for (const t of [a.token, second.session_token]) {
      expect((await h.req("GET", "/api/v1/auth/me", { token: t })).status).toBe(401);
    }
    expect((await h.req("POST", "/api/v1/auth/refresh", { body: { refresh_token: a.refresh } })).status).toBe(
      401,
    );
    expect((await h.req("GET", `/api/v1/users/${a.id}`, { token: b.token })).status).toBe(404);
    const { ObjectId } = await import("mongodb");
    const id = new ObjectId(a.id);
    const c = h.raw;
    expect(await c.users.countDocuments({ _id: id })).toBe(0);
    expect(await c.devices.countDocuments({ user_id: id })).toBe(0);
    expect(await c.authSessions.countDocuments({ user_id: id })).toBe(0);
    expect(await c.prekeys.countDocuments({ user_id: id })).toBe(0);
    // The address can sign up again as a new account.
    const again = await signUp(h, { email: a.email });
    expect(again.id).not.toBe(a.id);
  });
});
