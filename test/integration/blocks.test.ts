import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Account, type Hush, mayMessage, signUp, startHush } from "../helpers/hush.js";

let h: Hush;
beforeAll(async () => {
  h = await startHush();
});
afterAll(() => h?.close());

const block = (by: Account, other: Account | string, method = "POST") =>
  h.req(method, `/api/v1/users/${typeof other === "string" ? other : other.id}/block`, { token: by.token });
const blocks = (a: Account, query = "") =>
  h.req("GET", `/api/v1/users/me/blocks${query}`, { token: a.token });

describe("blocking", () => {
  it("blocks idempotently, lists, and unblocks", async () => {
    const [a, b] = [await signUp(h), await signUp(h)];
    const empty = await blocks(a);
    expect(empty.status).toBe(200);
    expect(empty.body).toEqual({
      blocks: [],
      pagination: { total: 0, limit: 20, offset: 0, has_more: false },
    });

    expect((await block(a, b)).status).toBe(204);
    expect((await block(a, b)).status).toBe(204);
    const listed = await blocks(a);
    expect(listed.body.blocks).toEqual([
      { user_id: b.id, username: b.username, blocked_at: expect.any(String) },
    ]);
    expect(listed.body.pagination.total).toBe(1);
    expect((await blocks(b)).body.blocks).toEqual([]);

    expect((await block(a, b, "DELETE")).status).toBe(204);
    const again = await block(a, b, "DELETE");
    expect(again.status).toBe(404);
    expect(again.body.code).toBe("NOT_FOUND");
    expect((await blocks(a)).body.blocks).toEqual([]);
  });

  it("pages the block list, newest first", async () => {
    const a = await signUp(h);
    const others = [await signUp(h), await signUp(h), await signUp(h)];
    for (const o of others) {
      await block(a, o);
      h.clock.advance(1); // newest first goes by time; ids are random, so ties have no order
    }
    const first = await blocks(a, "?limit=2");
    expect(first.body.pagination).toEqual({ total: 3, limit: 2, offset: 0, has_more: true });
    expect(first.body.blocks.map((b: any) => b.user_id)).toEqual([others[2]!.id, others[1]!.id]);
    const rest = await blocks(a, "?limit=2&offset=2");
    expect(rest.body.blocks.map((b: any) => b.user_id)).toEqual([others[0]!.id]);
    expect((await blocks(a, "?limit=101")).status).toBe(400);
    expect((await blocks(a, "?offset=10000")).status).toBe(200);
    const deep = await blocks(a, "?offset=10001");
    expect(deep).toMatchObject({ status: 400, body: { fields: { offset: expect.any(String) } } });
  });

  it("answers alike for unknown ids and for users who blocked you, so blocking is no oracle", async () => {
    const [a, b] = [await signUp(h), await signUp(h)];
    const unknown = "0123456789abcdef01234567";
    await block(b, a); // b now looks absent to a
    expect((await block(a, unknown)).status).toBe(204);
    h.clock.advance(1);
    expect((await block(a, b)).status).toBe(204);
    const listed = (await blocks(a)).body.blocks;
    expect(listed).toEqual([
      { user_id: b.id, username: null, blocked_at: expect.any(String) },
      { user_id: unknown, username: null, blocked_at: expect.any(String) },
    ]);
    expect((await block(a, unknown, "DELETE")).status).toBe(204);
  });

  it("rejects blocking yourself, unblocking who you did not block, and bad ids", async () => {
    const a = await signUp(h);
    const self = await block(a, a);
    expect(self.status).toBe(400);
    expect(self.body.fields.user_id).toBeTruthy();
    expect((await block(a, a, "DELETE")).status).toBe(400);
    expect((await block(a, "0123456789abcdef01234567", "DELETE")).status).toBe(404);
    expect((await block(a, "me")).status).toBe(400);
    expect((await h.req("GET", "/api/v1/users/me/blocks")).status).toBe(401);
  });

  it("hides the blocker from the blocked user until unblocked", async () => {
    const [a, b] = [await signUp(h), await signUp(h)];
    const seen = async () => ({
      profile: (await h.req("GET", `/api/v1/users/${a.id}`, { token: b.token })).status,
      search: (await h.req("GET", `/api/v1/users/search?q=${a.username}`, { token: b.token })).body.users,
      message: await mayMessage(h, b.id, a.id),
    });
    expect(await seen()).toEqual({
      profile: 200,
      search: [expect.objectContaining({ id: a.id })],
      message: true,
    });

    await block(a, b);
    expect(await seen()).toEqual({ profile: 404, search: [], message: false });
    for (const body of [{ user_id: a.id }, { username: a.username }]) {
      const req = await h.req("POST", "/api/v1/contacts", { token: b.token, body });
      expect(req.status).toBe(404);
      expect(req.body.code).toBe("USER_NOT_FOUND");
    }
    // The blocker still sees the blocked user, but may not message them (to the blocked user the
    // blocker looks absent, so nothing from the blocker may reach them): unblock first.
    expect((await h.req("GET", `/api/v1/users/${b.id}`, { token: a.token })).status).toBe(200);
    expect(await mayMessage(h, a.id, b.id)).toBe(false);
    const own = await h.req("POST", "/api/v1/contacts", { token: a.token, body: { user_id: b.id } });
    expect(own.status).toBe(409);
    expect(own.body.code).toBe("INVALID_STATE");

    await block(a, b, "DELETE");
    expect(await seen()).toEqual({
      profile: 200,
      search: [expect.objectContaining({ id: a.id })],
      message: true,
    });
    const req = await h.req("POST", "/api/v1/contacts", { token: b.token, body: { user_id: a.id } });
    expect(req.status).toBe(201);
  });

  it("ends an existing contact and pending requests", async () => {
    const [a, b, c] = [await signUp(h), await signUp(h), await signUp(h)];
    await h.req("POST", "/api/v1/contacts", { token: a.token, body: { user_id: b.id } });
    await h.req("POST", `/api/v1/contacts/${a.id}/accept`, { token: b.token });
    await h.req("POST", "/api/v1/contacts", { token: c.token, body: { user_id: a.id } });
    await block(a, b);
    await block(a, c);
    for (const u of [a, b, c]) {
      expect((await h.req("GET", "/api/v1/contacts", { token: u.token })).body.contacts).toEqual([]);
    }
  });

  it("a block and a request racing each other leave no request behind", async () => {
    const [a, b] = [await signUp(h), await signUp(h)];
    await Promise.all([
      block(a, b),
      h.req("POST", "/api/v1/contacts", { token: b.token, body: { user_id: a.id } }),
    ]);
    expect((await h.req("GET", "/api/v1/contacts", { token: a.token })).body.contacts).toEqual([]);
    expect((await h.req("GET", "/api/v1/contacts", { token: b.token })).body.contacts).toEqual([]);
  });

  it("contacts-only privacy and blocks combine in canMessage", async () => {
    const [a, b] = [await signUp(h), await signUp(h)];
    const body = { privacy: { allow_messages_from: "contacts" } };
    await h.req("PATCH", "/api/v1/users/me", { token: a.token, body });
    await h.req("POST", "/api/v1/contacts", { token: a.token, body: { user_id: b.id } });
    await h.req("POST", `/api/v1/contacts/${a.id}/accept`, { token: b.token });
    expect(await mayMessage(h, b.id, a.id)).toBe(true);
    await block(a, b);
    expect(await mayMessage(h, b.id, a.id)).toBe(false);
    await block(a, b, "DELETE");
    // Blocking ended the contact, so contacts-only still shuts b out after the unblock.
    expect(await mayMessage(h, b.id, a.id)).toBe(false);
  });
});
