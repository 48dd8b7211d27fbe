import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Hush, signUp, startHush } from "../helpers/hush.js";

let h: Hush;
beforeAll(async () => {
  h = await startHush();
});
afterAll(() => h?.close());

describe("smoke", () => {
  it("signs up and reads /auth/me", async () => {
    const a = await signUp(h);
    const me = await h.req("GET", "/api/v1/auth/me", { token: a.token });
    expect(me.status).toBe(200);
    expect(me.body.email).toBe(a.email);
  });
});
