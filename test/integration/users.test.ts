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

  it("takes only https avatar URLs: no javascript:, data:, file: or plain http", async () => {
    const a = await signUp(h);
    for (const bad of [
      "javascript:alert(1)",
      "data:text/html;base64,PHNjcmlwdD4=",
      "file:///etc/passwd",
      "http://cdn.example.com/a.png",
    ]) {
      const r = await patch(a.token, { avatar_url: bad });
      expect(r, bad).toMatchObject({ status: 400, body: { fields: { avatar_url: expect.any(String) } } });
    }
    expect((await patch(a.token, { avatar_url: "https://cdn.example.com/a.png" })).status).toBe(200);
    expect((await patch(a.token, { avatar_url: null })).status).toBe(200);
  });

  it("refuses avatar and group picture URLs on loopback, private and link-local hosts", async () => {
    const a = await signUp(h);
    const b = await signUp(h);
    const refused = [
      "https://127.0.0.1/a.png",
      "https://2130706433/a.png", // 127.0.0.1 written as a number
      "https://localhost/a.png",
      "https://api.localhost/a.png",
      "https://[::1]/a.png",
      "https://169.254.169.254/latest/meta-data",
      "https://[fe80::1]/a.png",
      "https://10.0.0.5/a.png",
      "https://192.168.1.1/a.png",
      "https://172.16.0.1/a.png",
      "https://[fd00::1]/a.png",
      "https://[::ffff:127.0.0.1]/a.png",
      "https://0.0.0.0/a.png",
      "https://printer.local/a.png",
      "https://intranet/a.png",
    ];
    for (const bad of refused) {
      const r = await patch(a.token, { avatar_url: bad });
      expect(r, bad).toMatchObject({ status: 400, body: { fields: { avatar_url: expect.any(String) } } });
      const g = await h.req("POST", "/api/v1/conversations/groups", {
        token: a.token,
        body: { name: "G", participant_ids: [b.id], picture_url: bad },
      });
      expect(g, bad).toMatchObject({ status: 400, body: { fields: { picture_url: expect.any(String) } } });
    }
    for (const good of [
      "https://cdn.example.com/a.png",
      "https://93.184.216.34/a.png",
      "https://[2606:4700::1]/a",
    ]) {
      expect((await patch(a.token, { avatar_url: good })).status, good).toBe(200);
    }
  });

  it("GET /users/{id} shows the public profile only, and status only to contacts, if shared", async () => {
    const a = await signUp(h);
    const b = await signUp(h);
    await patch(b.token, { mobile: "+441234567890", bio: "hi" });
    const stranger = await h.req("GET", `/api/v1/users/${b.id}`, { token: a.token });
    expect(stranger.body.status).toBeNull();
    expect(
      (await h.req("POST", "/api/v1/contacts", { token: a.token, body: { user_id: b.id } })).status,
    ).toBe(201);
    expect((await h.req("POST", `/api/v1/contacts/${a.id}/accept`, { token: b.token })).status).toBe(200);
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
    expect(await find(b.username.slice(0, -1))).toEqual([]);
    expect(await find(b.email)).toEqual([]); // email discovery is opt-in
    await patch(b.token, { privacy: { discoverable_by_email: true } });
    expect((await find(b.email)).map((u: any) => u.id)).toEqual([b.id]);
    await patch(b.token, { privacy: { discoverable_by_email: false } });
    expect(await find(b.email)).toEqual([]);
    expect(await find(b.username)).toHaveLength(1);
    await patch(b.token, { privacy: { discoverable_by_username: false } });
    expect(await find(b.username)).toEqual([]);
    expect((await h.req("GET", "/api/v1/users/search?q=ab", { token: a.token })).status).toBe(400);
  });
});

describe("search limits", () => {
  it("allows 30 searches an hour per account, then 429; other accounts are unaffected", async () => {
    const [a, b] = await Promise.all([signUp(h), signUp(h)]);
    const search = (token: string, i: number) =>
      h.req("GET", `/api/v1/users/search?q=${encodeURIComponent(`probe${i}@example.com`)}`, { token });
    const statuses = [];
    for (let i = 0; i < 30; i++) statuses.push((await search(a.token, i)).status);
    expect(statuses).toEqual(Array(30).fill(200));
    const limited = await search(a.token, 99);
    expect(limited).toMatchObject({ status: 429, body: { code: "RATE_LIMITED" } });
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    expect((await search(b.token, 0)).status).toBe(200);
    h.clock.advance(Number(limited.headers.get("retry-after")));
    const renewed = await h.req("POST", "/api/v1/auth/refresh", { body: { refresh_token: a.refresh } });
    expect((await search(renewed.body.session_token, 100)).status).toBe(200);
  });
});

describe("lookup limits", () => {
  it("allows 120 lookups by id an hour per account, then 429; other accounts are unaffected", async () => {
    const [a, b, c] = await Promise.all([signUp(h), signUp(h), signUp(h)]);
    const get = (token: string) => h.req("GET", `/api/v1/users/${c.id}`, { token });
    const statuses = [];
    for (let i = 0; i < 120; i++) statuses.push((await get(a.token)).status);
    expect(statuses).toEqual(Array(120).fill(200));
    const limited = await get(a.token);
    expect(limited).toMatchObject({ status: 429, body: { code: "RATE_LIMITED" } });
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    expect((await get(b.token)).status).toBe(200);
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
    expect(await h.raw("users").countDocuments({ _id: id })).toBe(0);
    for (const name of ["devices", "auth_sessions", "prekeys"]) {
      expect(await h.raw(name).countDocuments({ user_id: id })).toBe(0);
    }
    // The address can sign up again as a new account.
    const again = await signUp(h, { email: a.email });
    expect(again.id).not.toBe(a.id);
  });
});
