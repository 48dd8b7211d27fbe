import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { budgetScale, budgets, DEVELOPMENT_SCALE, startCosts } from "../../src/auth/budgets.js";
import { OTP_ATTEMPTS } from "../../src/auth/otp.js";
import { waitFraction } from "../../src/limits/ratelimit.js";

const doc = readFileSync(new URL("../../docs/abuse.md", import.meta.url), "utf8");
const DAY = 86_400;

describe("docs/abuse.md's arithmetic", () => {
  it("states the checks a year and the odds of guessing a code, which stay under 1 %", () => {
    expect(budgets.guessDay.windowSeconds).toBe(DAY);
    const perYear = budgets.guessDay.limit * 366; // a year touches at most 366 day windows
    const odds = perYear / (1_000_000 - (OTP_ATTEMPTS - 1)); // a session's guesses are distinct codes
    expect(odds).toBeLessThan(0.01);
    expect(doc).toContain(`**${perYear.toLocaleString("en-US")} checks a year**`);
    expect(doc).toContain(`at most ${(odds * 100).toFixed(2)} %**`);
  });

  it("states how soon the owner is back once a lockout stops: Retry-After's longest wait", () => {
    const days = waitFraction(budgets.guessDay.limit, 0, budgets.guessDay.limit, 0);
    const minutes = Math.round((days * DAY) / 60);
    expect(doc).toContain(`within ${Math.floor(minutes / 60)} h ${minutes % 60} min**`);
    // The mail budget, the other one an attacker can hold, frees up no later.
    expect(budgets.mailDay.windowSeconds).toBe(DAY);
    expect(budgets.mailDay.limit).toBeGreaterThanOrEqual(budgets.guessDay.limit);
  });

  it("keeps one IP's shares below the address's budgets, so one IP cannot lock anyone out", () => {
    expect(budgets.mailShareDay.limit).toBeLessThan(budgets.mailDay.limit);
    expect(budgets.mailShareHour.limit).toBeLessThan(budgets.mailHour.limit);
    expect(budgets.guessShare.limit).toBeLessThan(budgets.guessDay.limit);
    const blocks = (limit: number, share: number) => Math.ceil(limit / share);
    expect(blocks(budgets.guessDay.limit, budgets.guessShare.limit)).toBeGreaterThanOrEqual(4);
    expect(blocks(budgets.mailDay.limit, budgets.mailShareDay.limit)).toBeGreaterThanOrEqual(4);
    expect(doc).toContain("from 4 or more address blocks");
  });
});

describe("development budgets", () => {
  it("are generous only for loopback callers of a development server", () => {
    for (const ip of ["127.0.0.1", "127.8.9.10", "::1"])
      expect(budgetScale("development", ip)).toBe(DEVELOPMENT_SCALE);
    for (const ip of ["10.0.0.1", "192.168.1.2", "203.0.113.9", "2001:db8::1", "::"])
      expect(budgetScale("development", ip)).toBe(1);
    for (const env of ["production", "test"] as const)
      for (const ip of ["127.0.0.1", "::1"]) expect(budgetScale(env, ip)).toBe(1);
  });

  it("scale every budget of the flow by the same factor and keep the counters (same rule names)", () => {
    const real = startCosts("signup", "a@example.com", "127.0.0.1", 1);
    const dev = startCosts("signup", "a@example.com", "127.0.0.1", DEVELOPMENT_SCALE);
    expect(dev.map(([r, k]) => [r.name, r.limit / DEVELOPMENT_SCALE, k])).toEqual(
      real.map(([r, k]) => [r.name, r.limit, k]),
    );
    expect(real[0]![0]).toBe(budgets.signupIp);
  });
});
