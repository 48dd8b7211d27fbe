import { describe, expect, it } from "vitest";
import { createLogger } from "../../src/lib/logger.js";

const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI2NTAwMDAwMDAwMDAwMDAwMDAwMDAwMDEifQ.c2lnbmF0dXJlLXBhcnQ";
const refresh = "rt_Q2hhbmdlTWVQbGVhc2VJQW1BUmVmcmVzaFRva2Vu";
const key = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";

function capture(level: "debug" | "info" = "debug") {
  const lines: string[] = [];
  const logger = createLogger(level, (l) => lines.push(l));
  return { logger, lines, text: () => lines.join("") };
}

describe("logger", () => {
  it("writes one JSON object a line with level, time and message", () => {
    const { logger, lines } = capture();
    logger.info("hello", { route: "/x", status: 200 });
    const entry = JSON.parse(lines[0]!);
    expect(entry).toMatchObject({ level: "info", msg: "hello", route: "/x", status: 200 });
    expect(Number.isNaN(Date.parse(entry.time))).toBe(false);
  });

  it("redacts secret-named fields at any depth, in arrays and in child bindings", () => {
    const { logger, text } = capture();
    const deep = { a: { b: { c: { d: { e: { f: { g: { token: "tok-deep-7" } } } } } } } };
    logger.warn("deep", {
      ...deep,
      list: [{ otp: "otp-in-array" }, [{ session_token: "tok-nested-array" }]],
      headers: { Authorization: "auth-header-value" },
      body: { encrypted_content: "cipher-text-here", recipient_keys: [{ encrypted_key: "wrapped-1" }] },
    });
    logger.child({ refresh_token: "tok-in-binding", request_id: "r-1" }).info("child");
    const out = text();
    for (const secret of [
      "tok-deep-7",
      "otp-in-array",
      "tok-nested-array",
      "auth-header-value",
      "cipher-text-here",
      "wrapped-1",
      "tok-in-binding",
    ]) {
      expect(out).not.toContain(secret);
    }
    expect(out).toContain('"request_id":"r-1"');
    expect(out).toContain("[redacted]");
  });

  it("scrubs tokens, codes and keys out of messages, error messages, stacks and causes", () => {
    const { logger, text } = capture();
    const err = new Error(`verify failed for ${jwt} with code 123456`, {
      cause: new Error(`refresh ${refresh} rejected`),
    });
    Object.assign(err, { detail: `key ${key}` });
    logger.error(`request failed: Bearer ${jwt}`, { error: err, url: `/api/v1/x?temp_token=${jwt}&a=1` });
    const out = text();
    for (const secret of [jwt, "123456", refresh, key]) expect(out).not.toContain(secret);
    const entry = JSON.parse(out);
    expect(entry.error.message).toContain("verify failed for [jwt]");
    expect(entry.error.stack).toContain("Error: verify failed");
    expect(entry.error.cause.message).toContain("[refresh-token]");
    expect(entry.url).toBe("/api/v1/x?temp_token=[redacted]&a=1");
  });

  it("survives circular values and respects the level", () => {
    const { logger, lines } = capture("info");
    const loop: Record<string, unknown> = { name: "loop" };
    loop.self = loop;
    logger.debug("hidden", {});
    logger.info("loop", { loop });
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!).loop.self).toBe("[circular]");
  });
});
