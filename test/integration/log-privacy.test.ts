import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Hush, logIn, signUp, startHush } from "../helpers/hush.js";

let h: Hush;
beforeAll(async () => {
  h = await startHush();
});
afterAll(() => h?.close());

describe("server logs", () => {
  it("hold no token, code or key after sign-up, login, refresh and failed requests", async () => {
    const a = await signUp(h);
    const signupCode = h.smtp.code(a.email);
    const { res } = await logIn(h, a.email, "second-device");
    const loginCode = h.smtp.code(a.email);
    const refreshed = await h.req("POST", "/api/v1/auth/refresh", { body: { refresh_token: a.refresh } });
    await h.req("GET", "/api/v1/auth/me", { token: `${a.token}x` }); // a 401 with a token in hand
    await h.req("POST", "/api/v1/auth/verify-otp", { body: { session_id: "0".repeat(32), otp: "654321" } });

    const logs = h.logs.join("");
    expect(logs).toContain('"msg":"request"'); // the access log ran through the same logger
    const secrets = [
      signupCode,
      loginCode,
      "654321",
      a.token,
      a.refresh,
      res.body.session_token,
      res.body.refresh_token,
      refreshed.body.refresh_token,
      a.device.b64,
    ];
    for (const s of secrets) expect(logs).not.toContain(s);
  });
});
