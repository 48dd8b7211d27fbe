import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";

const problems = (env: Record<string, string>) => {
  try {
    loadConfig(env);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems.join("\n");
    throw e;
  }
  throw new Error("expected a ConfigError");
};

describe("config", () => {
  it("has working defaults for development", () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      PORT: 8000,
      HOST: "0.0.0.0",
      MONGODB_DB: "hush",
      DATA_DIR: "./data",
      NODE_ENV: "development",
    });
    expect(c.generatedSecret).toBe(true);
    expect(c.JWT_SECRET.length).toBeGreaterThanOrEqual(32);
  });

  it("names every bad variable at once", () => {
    const p = problems({ PORT: "eighty", MONGODB_URI: "http://db", LOG_LEVEL: "loud", MAX_DEVICES: "0" });
    for (const name of ["PORT", "MONGODB_URI", "LOG_LEVEL", "MAX_DEVICES"]) expect(p).toContain(name);
  });

  it("refuses development defaults in production", () => {
    const p = problems({ NODE_ENV: "production" });
    expect(p).toContain("JWT_SECRET");
    expect(p).toContain("SMTP_URL");
    expect(() =>
      loadConfig({ NODE_ENV: "production", JWT_SECRET: "x".repeat(32), SMTP_URL: "smtp://mail:25" }),
    ).not.toThrow();
  });

  it("refuses PUSH_ALLOW_PRIVATE in production, and a VAPID_PRIVATE_KEY that is no P-256 key", () => {
    const prod = { NODE_ENV: "production", JWT_SECRET: "x".repeat(32), SMTP_URL: "smtp://mail:25" };
    expect(problems({ ...prod, PUSH_ALLOW_PRIVATE: "true" })).toContain("PUSH_ALLOW_PRIVATE");
    expect(loadConfig({ PUSH_ALLOW_PRIVATE: "true" }).PUSH_ALLOW_PRIVATE).toBe(true);
    expect(loadConfig({})).toMatchObject({ PUSH_ALLOW_PRIVATE: false, PUSH_MIN_INTERVAL_SECONDS: 60 });
    // 32 bytes of 0xff: above the curve's order, so no private key.
    expect(problems({ VAPID_PRIVATE_KEY: Buffer.alloc(32, 0xff).toString("base64url") })).toContain(
      "VAPID_PRIVATE_KEY",
    );
    expect(problems({ PUSH_CONTACT: "ops@example.org" })).toContain("PUSH_CONTACT");
  });

  it("takes TRUST_PROXY as hops or addresses, off by default, and refuses a bare true", () => {
    expect(loadConfig({}).TRUST_PROXY).toBeNull();
    expect(loadConfig({ TRUST_PROXY: "1" }).TRUST_PROXY).toEqual({ hops: 1 });
    expect(loadConfig({ TRUST_PROXY: "172.16.0.0/12" }).TRUST_PROXY).toEqual({ proxies: ["172.16.0.0/12"] });
    expect(problems({ TRUST_PROXY: "true" })).toContain("TRUST_PROXY");
  });

  it("has server timeouts, and headers must arrive within the request timeout", () => {
    expect(loadConfig({})).toMatchObject({
      HEADERS_TIMEOUT_MS: 10_000,
      REQUEST_TIMEOUT_MS: 30_000,
      KEEP_ALIVE_TIMEOUT_MS: 5_000,
      IDLE_TIMEOUT_MS: 60_000,
    });
    expect(problems({ HEADERS_TIMEOUT_MS: "20000", REQUEST_TIMEOUT_MS: "10000" })).toContain(
      "HEADERS_TIMEOUT_MS",
    );
  });

  it("treats empty variables as unset", () => {
    expect(loadConfig({ PORT: "", MONGODB_URI: "" }).PORT).toBe(8000);
  });
});
