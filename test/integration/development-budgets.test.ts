import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { budgets, DEVELOPMENT_SCALE } from "../../src/auth/budgets.js";
import { checkedFetch, conformanceChecker } from "../helpers/conformance.js";
import { type Smtp, startSmtp } from "../helpers/smtp.js";
import { spawnServer } from "../helpers/spawned.js";

const check = conformanceChecker();
let smtp: Smtp;
beforeAll(async () => {
  smtp = await startSmtp();
});
afterAll(() => smtp?.close());

/** Four sign-ups from loopback, as the README's two walkthroughs make them, on a server started with `env`. */
async function fourSignups(env: Record<string, string>) {
  const server = await spawnServer({ SMTP_URL: smtp.url, ...env });
  try {
    const answers = [];
    for (const name of ["test", "friend", "alice", "bob"]) {
      answers.push(
        await checkedFetch(check, `${server.url}/api/v1/auth/signup`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ email: `${name}-${Date.now()}@example.com`, purpose: "signup" }),
        }),
      );
    }
    return answers;
  } finally {
    await server.stop();
  }
}

describe("abuse budgets on loopback", () => {
  it("hold in production: the fourth sign-up from one address is 429 with Retry-After", async () => {
    const answers = await fourSignups({ NODE_ENV: "production", JWT_SECRET: "x".repeat(32) });
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 429]);
    expect(answers[0]!.headers.get("x-ratelimit-limit")).toBe(String(budgets.signupIp.limit));
    expect(Number(answers[3]!.headers.get("retry-after"))).toBeGreaterThan(0);
  });

  it("are generous in development: the README's four sign-ups from one address all pass", async () => {
    const answers = await fourSignups({ NODE_ENV: "development" });
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200]);
    expect(answers[0]!.headers.get("x-ratelimit-limit")).toBe(
      String(budgets.signupIp.limit * DEVELOPMENT_SCALE),
    );
  });
});
