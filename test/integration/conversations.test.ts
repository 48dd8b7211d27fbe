import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Device, direct, group, history, newAccount, send } from "../helpers/e2e.js";
import { type Hush, startHush } from "../helpers/hush.js";

let h: Hush;
beforeAll(async () => {
  h = await startHush();
});
afterAll(() => h?.close());

const api = (d: Device, method: string, path: string, body?: unknown) =>
  h.req(method, `/api/v1${path}`, { token: d.token, body });
const create = (d: Device, other: string) => api(d, "POST", "/conversations", { participant_id: other });
const get = (d: Device, id: string) => api(d, "GET", `/conversations/${id}`);
const list = (d: Device, query = "") => api(d, "GET", `/conversations${query}`);

describe("1:1 conversations", () => {
  it("creates once (201), then gets the same one from either side (200)", async () => {
    const [a, b] = [await newAccount(h), await newAccount(h)];
    const first = await create(a, b.userId);
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({
      type: "one_to_one",
      name: null,
      participants: [{ user_id: b.userId, role: "member", online: false }],
      member_count: 2,
      last_message: null,
      unread_count: 0,
      archived: false,
    });
    const again = await create(a, b.userId);
    const theirs = await create(b, a.userId);
    expect([again.status, theirs.status]).toEqual([200, 200]);
    expect(again.body.id).toBe(first.body.id);
    expect(theirs.body.id).toBe(first.body.id);
    expect(theirs.body.participants).toEqual([expect.objectContaining({ user_id: a.userId })]);
  });

  it("is exactly one conversation when both people create it at the same moment", async () => {
    const [a, b] = [await newAccount(h), await newAccount(h)];
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 ? create(a, b.userId) : create(b, a.userId))),
    );
    expect(results.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 201]);
    expect(new Set(results.map((r) => r.body.id)).size).toBe(1);
    const [id] = results.map((r) => r.body.id);
    const pair = [a.userId, b.userId].sort().join(":");
    expect(await h.raw("conversations").countDocuments({ pair_key: pair })).toBe(1);
    for (const d of [a, b]) {
      expect((await get(d, id)).status).toBe(200);
      expect((await list(d)).body.total).toBe(1);
    }
  });

  it("applies blocking and contacts-only privacy, and refuses yourself and unknown ids", async () => {
    const [a, b, c] = [await newAccount(h), await newAccount(h), await newAccount(h)];
    await api(b, "POST", `/users/${a.userId}/block`);
    const blocked = await create(a, b.userId);
    const unknown = await create(a, "0123456789abcdef01234567");
    expect([blocked.status, unknown.status]).toEqual([404, 404]);
    expect(blocked.body).toEqual(unknown.body);
    expect(blocked.body.code).toBe("USER_NOT_FOUND");

    await api(c, "PATCH", "/users/me", { privacy: { allow_messages_from: "contacts" } });
    const private_ = await create(a, c.userId);
    expect(private_.status).toBe(403);
    expect(private_.body.fields.participant_id).toBeTruthy();
    await api(a, "POST", "/contacts", { user_id: c.userId });
    await api(c, "POST", `/contacts/${a.userId}/accept`);
    expect((await create(a, c.userId)).status).toBe(201);

    const self = await create(a, a.userId);
    expect(self.status).toBe(400);
    expect(self.body.fields.participant_id).toBeTruthy();
    expect((await create(a, "nope")).status).toBe(400);
  });

  it("lists newest activity first with last_message and unread_count; archive hides until a new message", async () => {
    const [a, b, c] = [await newAccount(h), await newAccount(h), await newAccount(h)];
    const ab = await direct(h, a, b);
    const ac = await direct(h, a, c);
    h.clock.advance(1);
    const { res } = await send(h, b, ab, "hi a", {
      encrypted_preview: Buffer.from("preview").toString("base64"),
    });
    let page = await list(a);
    expect(page.body.total).toBe(2);
    expect(page.body.conversations.map((x: { id: string }) => x.id)).toEqual([ab, ac]);
    expect(page.body.conversations[0]).toMatchObject({
      unread_count: 1,
      last_message: {
        message_id: res.body.id,
        sender_id: b.userId,
        encrypted_preview: Buffer.from("preview").toString("base64"),
      },
    });
    expect(page.body.conversations[1].last_message).toBeNull();
    const second = await list(a, "?limit=1&skip=1");
    expect(second.body.conversations.map((x: { id: string }) => x.id)).toEqual([ac]);

    expect((await api(a, "DELETE", `/conversations/${ab}`)).status).toBe(204);
    page = await list(a);
    expect(page.body.conversations.map((x: { id: string }) => x.id)).toEqual([ac]);
    expect(page.body.total).toBe(1);
    expect((await get(a, ab)).body.archived).toBe(true);
    expect((await list(b)).body.total).toBe(1); // archived for a only
    h.clock.advance(1);
    await send(h, b, ab, "still there?");
    page = await list(a);
    expect(page.body.conversations.map((x: { id: string }) => x.id)).toEqual([ab, ac]);
    expect(page.body.conversations[0].unread_count).toBe(2);
    expect((await list(a, "?limit=101")).status).toBe(400);
    expect((await list(a, "?skip=10001")).status).toBe(400);
  });

  it("answers 404 to anyone who is not a member, as for a conversation that does not exist", async () => {
    const [a, b, outsider] = [await newAccount(h), await newAccount(h), await newAccount(h)];
    const ab = await direct(h, a, b);
    const g = await group(h, a, [b]);
    const missing = "0123456789abcdef01234567";
    for (const id of [ab, g, missing]) {
      for (const [method, path, body] of [
        ["GET", `/conversations/${id}`],
        ["GET", `/conversations/${id}/devices`],
        ["PATCH", `/conversations/${id}`, { name: "x" }],
        ["DELETE", `/conversations/${id}`],
        ["POST", `/conversations/${id}/members`, { user_id: outsider.userId }],
        ["DELETE", `/conversations/${id}/members/${a.userId}`],
        ["POST", `/conversations/${id}/admins`, { user_id: outsider.userId }],
        ["POST", `/conversations/${id}/leave`],
        ["GET", `/messages/conversations/${id}/messages`],
      ] as const) {
        const res = await api(outsider, method, path, body);
        expect(res.status, `${method} ${path}`).toBe(404);
        expect(res.body, `${method} ${path}`).toEqual({
          detail: "Conversation not found",
          code: "NOT_FOUND",
        });
      }
    }
  });

  it("limits /conversations to 60 requests a minute per user", async () => {
    const a = await newAccount(h);
    const statuses: number[] = [];
    for (let i = 0; i < 61; i++) statuses.push((await list(a)).status);
    expect(statuses.slice(0, 60).every((s) => s === 200)).toBe(true);
    expect(statuses[60]).toBe(429);
    h.clock.advance(61);
    expect((await list(a)).status).toBe(200);
  });
});

describe("groups", () => {
  it("creates a group with the creator as admin and checks every field", async () => {
    const [a, b, c] = [await newAccount(h), await newAccount(h), await newAccount(h)];
    const res = await api(a, "POST", "/conversations/groups", {
      name: "  Project Team ",
      participant_ids: [b.userId, c.userId],
      picture_url: "https://example.com/p.jpg",
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      type: "group",
      name: "Project Team",
      picture_url: "https://example.com/p.jpg",
      member_count: 3,
      role: "admin",
      // Both joined at the same instant, and ids are random (src/db/ids.ts): no order between them.
      participants: expect.arrayContaining([
        expect.objectContaining({ user_id: b.userId, role: "member" }),
        expect.objectContaining({ user_id: c.userId, role: "member" }),
      ]),
    });
    expect(res.body.participants).toHaveLength(2);
    expect((await get(b, res.body.id)).body.role).toBe("member");

    const bad = (body: unknown) => api(a, "POST", "/conversations/groups", body);
    const ids = (n: number) =>
      Array.from({ length: n }, (_, i) => `${String(i).padStart(24, "a")}`.slice(-24));
    for (const [body, field] of [
      [{ name: "", participant_ids: [b.userId] }, "name"],
      [{ name: "x".repeat(65), participant_ids: [b.userId] }, "name"],
      [{ name: "Solo", participant_ids: [] }, "participant_ids"],
      [{ name: "Crowd", participant_ids: ids(50) }, "participant_ids"],
      [{ name: "Twice", participant_ids: [b.userId, b.userId] }, "participant_ids.1"],
      [{ name: "Me", participant_ids: [b.userId, a.userId] }, "participant_ids.1"],
      [{ name: "Pic", participant_ids: [b.userId], picture_url: "not a url" }, "picture_url"],
    ] as const) {
      const r = await bad(body);
      expect(r.status, field).toBe(400);
      expect(Object.keys(r.body.fields), field).toContain(field);
    }
    const unknown = await bad({ name: "Ghost", participant_ids: [b.userId, "0123456789abcdef01234567"] });
    expect(unknown.status).toBe(404);
    expect(unknown.body.fields["participant_ids.1"]).toBeTruthy();
  });

  it("applies blocking and contacts-only privacy to whoever is added", async () => {
    const [a, b, c, d] = [await newAccount(h), await newAccount(h), await newAccount(h), await newAccount(h)];
    await api(c, "POST", `/users/${a.userId}/block`);
    await api(d, "PATCH", "/users/me", { privacy: { allow_messages_from: "contacts" } });
    const blocked = await api(a, "POST", "/conversations/groups", {
      name: "G",
      participant_ids: [b.userId, c.userId],
    });
    expect(blocked.status).toBe(404);
    expect(blocked.body.fields["participant_ids.1"]).toBeTruthy();
    const privateUser = await api(a, "POST", "/conversations/groups", {
      name: "G",
      participant_ids: [d.userId],
    });
    expect(privateUser.status).toBe(403);
    const g = await group(h, a, [b]);
    const add = (u: Device) => api(a, "POST", `/conversations/${g}/members`, { user_id: u.userId });
    expect((await add(c)).status).toBe(404);
    expect((await add(d)).status).toBe(403);
  });

  it("lets admins rename, change the picture, add, remove and promote, and nobody else", async () => {
    const [a, b, c, d] = [await newAccount(h), await newAccount(h), await newAccount(h), await newAccount(h)];
    const g = await group(h, a, [b, c]);
    const forbidden = [
      ["PATCH", `/conversations/${g}`, { name: "Mine now" }],
      ["POST", `/conversations/${g}/members`, { user_id: d.userId }],
      ["DELETE", `/conversations/${g}/members/${c.userId}`],
      ["POST", `/conversations/${g}/admins`, { user_id: b.userId }],
    ] as const;
    for (const [method, path, body] of forbidden) {
      const res = await api(b, method, path, body);
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(res.body.code).toBe("FORBIDDEN");
    }

    const renamed = await api(a, "PATCH", `/conversations/${g}`, { name: "Renamed", picture_url: null });
    expect(renamed.status).toBe(200);
    expect(renamed.body).toMatchObject({ name: "Renamed", picture_url: null });
    expect((await api(a, "PATCH", `/conversations/${g}`, {})).status).toBe(400);

    const added = await api(a, "POST", `/conversations/${g}/members`, { user_id: d.userId });
    expect(added.status).toBe(201);
    expect(added.body.member_count).toBe(4);
    const twice = await api(a, "POST", `/conversations/${g}/members`, { user_id: d.userId });
    expect(twice.status).toBe(409);
    expect(twice.body.code).toBe("CONFLICT");

    const promoted = await api(a, "POST", `/conversations/${g}/admins`, { user_id: b.userId });
    expect(promoted.status).toBe(200);
    expect(promoted.body.participants.find((p: { user_id: string }) => p.user_id === b.userId).role).toBe(
      "admin",
    );
    expect((await api(a, "POST", `/conversations/${g}/admins`, { user_id: b.userId })).status).toBe(200);
    const outsider = await newAccount(h);
    expect((await api(a, "POST", `/conversations/${g}/admins`, { user_id: outsider.userId })).status).toBe(
      404,
    );

    // b is an admin now, and may remove c; c then sees nothing of the group.
    expect((await api(b, "DELETE", `/conversations/${g}/members/${c.userId}`)).status).toBe(204);
    expect((await get(c, g)).status).toBe(404);
    expect((await api(b, "DELETE", `/conversations/${g}/members/${c.userId}`)).status).toBe(404);
    // Anyone may remove themselves.
    expect((await api(d, "DELETE", `/conversations/${g}/members/${d.userId}`)).status).toBe(204);
    expect((await get(a, g)).body.member_count).toBe(2);
  });

  it("ranks admins by standing: an admin removes or demotes only admins who joined after them", async () => {
    const [creator, early, late, member] = await Promise.all([
      newAccount(h),
      newAccount(h),
      newAccount(h),
      newAccount(h),
    ]);
    const g = await group(h, creator, [early, member]);
    expect((await api(creator, "POST", `/conversations/${g}/members`, { user_id: late.userId })).status).toBe(
      201,
    );
    for (const d of [late, early]) {
      expect((await api(creator, "POST", `/conversations/${g}/admins`, { user_id: d.userId })).status).toBe(
        200,
      );
    }
    const roles = async () =>
      Object.fromEntries(
        [creator, ...(await get(creator, g)).body.participants].map((p: any) => [
          p.user_id ?? p.userId,
          p.role ?? "admin",
        ]),
      );
    // Nobody removes or demotes the creator, nor an admin of longer standing.
    for (const [by, target] of [
      [late, creator],
      [early, creator],
      [late, early],
    ] as const) {
      const removed = await api(by, "DELETE", `/conversations/${g}/members/${target.userId}`);
      expect(removed).toMatchObject({ status: 403, body: { code: "FORBIDDEN" } });
      const demoted = await api(by, "DELETE", `/conversations/${g}/admins/${target.userId}`);
      expect(demoted).toMatchObject({ status: 403, body: { code: "FORBIDDEN" } });
    }
    expect((await get(creator, g)).body.member_count).toBe(4);
    // A longer-standing admin demotes a later one; a plain member demotes nobody.
    expect((await api(member, "DELETE", `/conversations/${g}/admins/${late.userId}`)).status).toBe(403);
    const demoted = await api(early, "DELETE", `/conversations/${g}/admins/${late.userId}`);
    expect(demoted.status).toBe(200);
    expect((await roles())[late.userId]).toBe("member");
    expect((await api(early, "DELETE", `/conversations/${g}/admins/${late.userId}`)).status).toBe(200); // idempotent
    // Any admin removes a plain member, whatever their standing; an admin may step down.
    expect((await api(early, "DELETE", `/conversations/${g}/members/${late.userId}`)).status).toBe(204);
    expect((await api(early, "DELETE", `/conversations/${g}/admins/${early.userId}`)).status).toBe(200);
    expect((await roles())[early.userId]).toBe("member");
    // The last admin may not step down: a group always has one.
    const last = await api(creator, "DELETE", `/conversations/${g}/admins/${creator.userId}`);
    expect(last).toMatchObject({ status: 409, body: { code: "INVALID_STATE" } });
    expect((await api(creator, "DELETE", `/conversations/${g}/admins/${late.userId}`)).status).toBe(404);
  });

  it("keeps 1:1 conversations out of group management", async () => {
    const [a, b, c] = [await newAccount(h), await newAccount(h), await newAccount(h)];
    const ab = await direct(h, a, b);
    for (const [method, path, body] of [
      ["PATCH", `/conversations/${ab}`, { name: "x" }],
      ["POST", `/conversations/${ab}/members`, { user_id: c.userId }],
      ["DELETE", `/conversations/${ab}/members/${b.userId}`],
      ["POST", `/conversations/${ab}/admins`, { user_id: b.userId }],
      ["POST", `/conversations/${ab}/leave`],
    ] as const) {
      const res = await api(a, method, path, body);
      expect(res.status, `${method} ${path}`).toBe(409);
      expect(res.body.code).toBe("INVALID_STATE");
    }
  });

  it("shows a newcomer only the messages sent after they joined, and erases a removed member's keys", async () => {
    const [a, b, c] = [await newAccount(h), await newAccount(h), await newAccount(h)];
    const g = await group(h, a, [b]);
    const early = (await send(h, a, g, "before c")).res.body.id;
    await api(a, "POST", `/conversations/${g}/members`, { user_id: c.userId });
    const late = (await send(h, b, g, "after c")).res.body.id;
    const page = await history(h, c, g);
    expect(page.body.messages.map((m: { id: string }) => m.id)).toEqual([late]);
    expect(page.body.total).toBe(1);
    expect((await get(c, g)).body.unread_count).toBe(1);
    expect((await api(c, "POST", `/messages/${early}/read`)).status).toBe(404);

    const keysOf = async (d: Device) =>
      (await h.raw("message_keys").find().toArray()).filter((k) => k.user_id.toHexString() === d.userId);
    expect(await keysOf(c)).toHaveLength(1);
    expect((await api(a, "DELETE", `/conversations/${g}/members/${c.userId}`)).status).toBe(204);
    expect(await keysOf(c)).toEqual([]);
  });

  it("pages a newcomer from a cursor sent before they joined, its position known to the server or not", async () => {
    const [a, b, c] = [await newAccount(h), await newAccount(h), await newAccount(h)];
    const g = await group(h, a, [b]);
    const early: string[] = [];
    for (const text of ["one", "two", "three"]) early.push((await send(h, a, g, text)).res.body.id);
    await api(a, "POST", `/conversations/${g}/members`, { user_id: c.userId });
    const late = (await send(h, b, g, "after c")).res.body.id;
    const ids = (res: { body: { messages: { id: string }[] } }) => res.body.messages.map((m) => m.id);
    const first = early[0]!;
    // Not known yet: read by its lookup first.
    expect(ids(await history(h, c, g, `?after=${first}&limit=1`))).toEqual([late]);
    // a's page ends at it: known, but c joined after it, so c's page does not start there.
    expect(ids(await history(h, a, g, "?limit=4"))).toEqual([...early, late]);
    expect(ids(await history(h, c, g, `?after=${first}&limit=1`))).toEqual([late]);
    expect((await history(h, c, g, `?after=${first}&limit=1`)).body.has_more).toBe(false);
    expect(ids(await history(h, c, g, `?before=${late}`))).toEqual([]);
    expect(ids(await history(h, a, g, `?before=${late}&limit=2`))).toEqual(early.slice(1));
  });

  it("promotes the longest-standing member when the last admin leaves, and erases the group with its last member", async () => {
    const [a, b, c] = [await newAccount(h), await newAccount(h), await newAccount(h)];
    const g = await group(h, a, [b, c]);
    await send(h, b, g, "hello");
    expect((await api(a, "POST", `/conversations/${g}/leave`)).status).toBe(204);
    const after = await get(b, g);
    expect(after.body.member_count).toBe(2);
    expect(after.body.role).toBe("admin");
    expect((await api(b, "POST", `/conversations/${g}/leave`)).status).toBe(204);
    expect((await get(c, g)).body.role).toBe("admin");

    const stored = async () => ({
      conversation: await h.raw("conversations").countDocuments({ pair_key: `group:${g}` }),
      messages: (await h.raw("messages").find().toArray()).filter(
        (m) => m.conversation_id.toHexString() === g,
      ).length,
      keys: (await h.raw("message_keys").find().toArray()).filter(
        (k) => k.conversation_id.toHexString() === g,
      ).length,
    });
    expect(await stored()).toEqual({ conversation: 1, messages: 1, keys: 1 });
    expect((await api(c, "POST", `/conversations/${g}/leave`)).status).toBe(204);
    expect(await stored()).toEqual({ conversation: 0, messages: 0, keys: 0 });
    expect((await get(c, g)).status).toBe(404);
  });

  it("still has an admin when every admin leaves at once", async () => {
    const accounts = await Promise.all(Array.from({ length: 5 }, () => newAccount(h)));
    const [a, ...rest] = accounts;
    const g = await group(h, a!, rest);
    for (const d of rest.slice(0, 3))
      await api(a!, "POST", `/conversations/${g}/admins`, { user_id: d.userId });
    // a and three other admins leave together; the one remaining member must end up admin.
    await Promise.all([a!, ...rest.slice(0, 3)].map((d) => api(d, "POST", `/conversations/${g}/leave`)));
    const last = await get(rest[3]!, g);
    expect(last.body).toMatchObject({ member_count: 1, role: "admin" });
  });

  it("never holds more than 50 members, however many additions race", async () => {
    const admin = await newAccount(h);
    const filler = await Promise.all(Array.from({ length: 47 }, () => newAccount(h)));
    const g = await group(h, admin, filler);
    const late = await Promise.all(Array.from({ length: 5 }, () => newAccount(h)));
    const results = await Promise.all(
      late.map((d) => api(admin, "POST", `/conversations/${g}/members`, { user_id: d.userId })),
    );
    expect(results.map((r) => r.status).sort()).toEqual([201, 201, 409, 409, 409]);
    expect(results.filter((r) => r.status === 409).every((r) => r.body.code === "INVALID_STATE")).toBe(true);
    const full = await get(admin, g);
    expect(full.body.member_count).toBe(50);
    expect(full.body.participants).toHaveLength(49);
  }, 120_000);
});
