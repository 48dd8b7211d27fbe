import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshIp, type Hush, signUp, startHush, uniqueEmail } from "../helpers/hush.js";

// Two server processes' worth of state (separate apps, clocks, limiters) over one database.
let a: Hush;
let b: Hush;
beforeAll(async () => {
  const dbName = `hush_scale_${randomBytes(4).toString("hex")}`;
  const secret = randomBytes(32).toString("hex");
  a = await startHush({ JWT_SECRET: secret }, { dbName });
  b = await startHush({ JWT_SECRET: secret }, { dbName });
});
afterAll(async () => {
  await a?.close();
  await b?.close();
});

describe("several servers on one database", () => {
  it("share rate-limit counters", async () => {
    const ip = freshIp();
    const signup = (h: Hush) =>
      h.req("POST", "/api/v1/auth/signup", {
        body: { email: uniqueEmail() },
        headers: { "x-forwarded-for": ip },
      });
    const statuses = [await signup(a), await signup(b), await signup(a), await signup(b)].map(
      (r) => r.status,
    );
    expect(statuses).toEqual([200, 200, 200, 429]);
  });

  it("a session revoked on one server is refused by the other at once", async () => {
    const user = await signUp(a);
    expect((await b.req("GET", "/api/v1/auth/me", { token: user.token })).status).toBe(200);
    expect((await a.req("POST", "/api/v1/auth/logout", { token: user.token })).status).toBe(204);
    expect((await b.req("GET", "/api/v1/auth/me", { token: user.token })).status).toBe(401);
  });
});
