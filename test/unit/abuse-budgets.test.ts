import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { budgets } from "../../src/auth/budgets.js";
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
