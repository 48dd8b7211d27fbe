import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { admin } from "../helpers/admin.js";
import {
  freshIp,
  type Hush,
  logIn,
  newDeviceKey,
  startHush,
  uniqueEmail,
  uniqueUsername,
} from "../helpers/hush.js";
import { connect } from "../helpers/ws.js";

const JWT_SECRET = "admin-test-secret-0123456789abcdef0123";
let h: Hush;
let second: Hush;
let env: Record<string, string>;
beforeAll(async () => {
  h = await startHush({ JWT_SECRET, REGISTRATION: "invite" });
  const dbName = h.deps.store.db.databaseName;
  // A second server process on the same database: suspension must reach its sockets too.
  second = await startHush({ JWT_SECRET, REGISTRATION: "invite" }, { dbName });
  env = { MONGODB_URI: inject("mongoUri"), MONGODB_DB: dbName, JWT_SECRET };
});
afterAll(async () => {
  await second?.close();
  await h?.close();
});

async function signUpInvited(code: string) {
  const email = uniqueEmail("inv");
  const ip = { "x-forwarded-for": freshIp() };
  const start = await h.req("POST", "/api/v1/auth/signup", {
    body: { email, invite_code: code },
    headers: ip,
  });
  expect(start.status).toBe(200);
  const verify = await h.req("POST", "/api/v1/auth/verify-otp", {
    body: { session_id: start.body.session_id, otp: h.smtp.code(email) },
    headers: ip,
  });
  const done = await h.req("POST", `/api/v1/auth/complete-signup?temp_token=${verify.body.temp_token}`, {
    body: {
      email,
      username: uniqueUsername("inv"),
      full_name: "Invited",
      device_info: { device_id: "phone", device_name: "Phone", public_key: newDeviceKey().b64 },
    },
  });
  expect(done.status).toBe(201);
  return { email, id: done.body.id as string, username: done.body.username as string, ...done.body };
}

describe("npm run admin", () => {
  it("creates, lists and revokes invites; a created code signs someone up", async () => {
    const created = await admin("invite create", ["--uses", "2", "--expires", "7d"], env);
    expect(created.invite.uses_left).toBe(2);
    expect(Date.parse(created.invite.expires_at!) - Date.now()).toBeGreaterThan(6.9 * 86_400_000);
    await signUpInvited(created.code);
    const listed = await admin("invite list", [], env);
    expect(listed.invites.find((i) => i.id === created.invite.id)?.uses_left).toBe(1);
    expect(await admin("invite revoke", [created.invite.id], env)).toEqual({
      id: created.invite.id,
      revoked: true,
    });
    const refused = await h.req("POST", "/api/v1/auth/signup", {
      body: { email: uniqueEmail(), invite_code: created.code },
      headers: { "x-forwarded-for": freshIp() },
    });
    expect(refused.body.code).toBe("INVITE_INVALID");
  });

  it("suspends: sockets on both processes close at once, requests and refresh are refused, login too", async () => {
    const { code } = await admin("invite create", [], env);
    const user = await signUpInvited(code);
    const here = await connect(h, user.session_token);
    const there = await connect(second, user.session_token);

    const found = await admin("users list", ["--search", user.username.slice(0, 12)], env);
    expect(found.users.map((u) => u.id)).toContain(user.id);
    const shown = await admin("users show", [user.email], env);
    expect(shown.user).toMatchObject({ id: user.id, status: "active" });
    expect(shown.devices.map((d) => d.device_id)).toEqual(["phone"]);
    expect(shown.counts.sessions).toBe(1);

    const suspended = await admin("users suspend", [user.username, "--reason", "spam"], env);
    expect(suspended).toEqual({ id: user.id, status: "suspended", sessions_cut: 1 });
    expect((await here.client.closed).code).toBe(4005);
    expect((await there.client.closed).code).toBe(4005);
    for (const server of [h, second]) {
      const me = await server.req("GET", "/api/v1/auth/me", { token: user.session_token });
      expect(me.status).toBe(401);
    }
    const refresh = await second.req("POST", "/api/v1/auth/refresh", {
      body: { refresh_token: user.refresh_token },
    });
    expect(refresh.status).toBe(403);
    expect(refresh.body.code).toBe("ACCOUNT_SUSPENDED");
    const { res: login } = await logIn(h, user.email, "laptop");
    expect(login.status).toBe(403);
    expect(login.body.code).toBe("ACCOUNT_SUSPENDED");
    expect((await admin("users show", [user.id], env)).user).toMatchObject({
      status: "suspended",
      suspend_reason: "spam",
    });
    expect((await admin("stats", [], env)).accounts.suspended).toBe(1);

    expect(await admin("users unsuspend", [user.id], env)).toEqual({ id: user.id, status: "active" });
    const stale = await h.req("POST", "/api/v1/auth/refresh", {
      body: { refresh_token: user.refresh_token },
    });
    expect(stale.status).toBe(401); // the cut sessions stay cut
    expect((await logIn(h, user.email, "laptop")).res.status).toBe(200);
  });

  it("deletes an account as it deletes itself, reports stats and lists the audit", async () => {
    const { code } = await admin("invite create", [], env);
    const user = await signUpInvited(code);
    const before = await admin("stats", [], env);
    expect(before.accounts.total).toBeGreaterThanOrEqual(1);
    expect(before.devices).toBeGreaterThanOrEqual(1);
    expect(await admin("users delete", [user.email], env)).toEqual({ id: user.id, deleted: true });
    expect(await h.raw("users").findOne({ email: user.email })).toBeNull();
    expect(await h.raw("devices").countDocuments({ user_id: user._id })).toBe(0);
    const me = await h.req("GET", "/api/v1/auth/me", { token: user.session_token });
    expect(me.status).toBe(401);

    const { entries } = await admin("audit", ["--limit", "50"], env);
    const actions = entries.map((e) => e.action);
    expect(actions).toEqual(
      expect.arrayContaining(["users delete", "users suspend", "invite create", "stats"]),
    );
    const suspend = entries.find((e) => e.action === "users suspend")!;
    expect(suspend.actor).toMatch(/^operator@/);
    expect(suspend.details).toEqual({ reason: "spam" });
    expect(JSON.stringify(entries)).not.toContain(user.email); // accounts by id, never by address
  });
});
