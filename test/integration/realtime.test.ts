import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Account, type Hush, signUp, startHush } from "../helpers/hush.js";
import { connect, refused, wsUrl } from "../helpers/ws.js";

let h: Hush;
beforeAll(async () => {
  h = await startHush();
});
afterAll(() => h?.close());

async function befriend(a: Account, b: Account) {
  const req = await h.req("POST", "/api/v1/contacts", { token: a.token, body: { user_id: b.id } });
  expect(req.status).toBe(201);
  const acc = await h.req("POST", `/api/v1/contacts/${a.id}/accept`, { token: b.token });
  expect(acc.status).toBe(200);
}

describe("connecting", () => {
  it("accepts the token in the query and says who and where the device is", async () => {
    const a = await signUp(h);
    const { client, authenticated } = await connect(h, a.token);
    expect(authenticated.data).toEqual({
      user_id: a.id,
      connected_at: expect.any(String),
      device_id: a.deviceId,
      position: 0,
    });
    await client.close();
  });

  it("accepts the token as a bearer.<token> subprotocol and answers hush.v1", async () => {
    const a = await signUp(h);
    const { client } = await connect(h, a.token, { via: "protocol" });
    expect(client.ws.protocol).toBe("hush.v1");
    await client.close();
  });

  it("refuses a missing, malformed or unknown-path handshake before upgrading", async () => {
    const none = await refused(wsUrl(h));
    expect(none).toEqual({ status: 401, body: expect.objectContaining({ code: "UNAUTHORIZED" }) });
    const junk = await refused(`${wsUrl(h)}?token=not-a-jwt`);
    expect(junk.status).toBe(401);
    const junkProtocol = await refused(wsUrl(h), ["hush.v1", "bearer.x.y.z"]);
    expect(junkProtocol.status).toBe(401);
    const elsewhere = await refused(`${h.url.replace("http", "ws")}/api/v1/nope`);
    expect(elsewhere.status).toBe(404);
  });

  it("refuses an expired token and a revoked session with 401", async () => {
    const a = await signUp(h);
    const b = await signUp(h);
    expect((await h.req("POST", "/api/v1/auth/logout", { token: b.token })).status).toBe(204);
    expect((await refused(`${wsUrl(h)}?token=${b.token}`)).status).toBe(401);
    h.clock.advance(h.deps.config.ACCESS_TOKEN_TTL + 1);
    try {
      expect((await refused(`${wsUrl(h)}?token=${a.token}`)).status).toBe(401);
    } finally {
      h.clock.advance(-(h.deps.config.ACCESS_TOKEN_TTL + 1));
    }
  });

  it("a plain GET on the socket path is told to upgrade", async () => {
    const a = await signUp(h);
    const r = await h.req("GET", "/api/v1/ws", { token: a.token });
    expect(r.status).toBe(426);
    expect(r.body.code).toBe("UPGRADE_REQUIRED");
  });
});

describe("events", () => {
  it("ping gets pong", async () => {
    const a = await signUp(h);
    const { client } = await connect(h, a.token);
    const pong = await client.ask({ type: "ping" }, "pong");
    expect(Date.parse(pong.timestamp)).not.toBeNaN();
    await client.close();
  });

  it("a contact request reaches both users' devices live, each as they see it", async () => {
    const a = await signUp(h);
    const b = await signUp(h);
    const ca = await connect(h, a.token);
    const cb = await connect(h, b.token);
    await h.req("POST", "/api/v1/contacts", { token: a.token, body: { user_id: b.id, display_name: "Bee" } });
    const ea = await ca.client.next("contacts_updated");
    const eb = await cb.client.next("contacts_updated");
    expect(ea).toEqual({
      type: "contacts_updated",
      position: 1,
      data: { user_id: b.id, status: "requested", display_name: "Bee" },
    });
    expect(eb).toEqual({
      type: "contacts_updated",
      position: 1,
      data: { user_id: a.id, status: "incoming", display_name: null },
    });
    await ca.client.close();
    await cb.client.close();
  });

  it("sync over REST and over the socket return the same entries; ack drops them", async () => {
    const a = await signUp(h);
    const b = await signUp(h);
    await befriend(a, b);
    const rest = await h.req("GET", "/api/v1/sync?since=0", { token: a.token });
    expect(rest.status).toBe(200);
    expect(rest.body.entries.map((e: any) => [e.position, e.data.status])).toEqual([
      [1, "requested"],
      [2, "accepted"],
    ]);
    expect(rest.body).toMatchObject({ has_more: false, position: 2 });
    const { client, authenticated } = await connect(h, a.token);
    expect(authenticated.data.position).toBe(2);
    const page = await client.ask({ type: "sync", data: { since: 1 } }, "sync_result");
    expect(page.data).toEqual({ entries: [rest.body.entries[1]], has_more: false, position: 2 });
    const acked = await client.ask({ type: "ack", data: { up_to: 99 } }, "acked");
    expect(acked.data.up_to).toBe(2);
    const after = await h.req("GET", "/api/v1/sync?since=0", { token: a.token });
    expect(after.body).toEqual({ entries: [], has_more: false, position: 2 });
    await client.close();
  });
});
