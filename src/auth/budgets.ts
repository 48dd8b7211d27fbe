import { BlockList } from "node:net";
import type { Config } from "../config.js";
import type { Rule } from "../limits/ratelimit.js";

const MINUTE = 60;
const HOUR = 3_600;
const DAY = 86_400;

/**
 * Every budget of the email-code flow. docs/abuse.md works out what they give an attacker with
 * unlimited IP addresses (test/unit/abuse-budgets.test.ts checks its figures against these).
 *
 * Caller budgets count per IP address (an IPv6 /64) and show in X-RateLimit-*. Target budgets
 * protect one email address whoever asks, across all IPs; their counts are never shown, or a
 * caller could see whether anyone else asked for that address. The per-address-and-IP shares keep
 * one IP from spending an address's whole budget, so locking an owner out takes many addresses.
 */
export const budgets = {
  signupIp: { name: "signup-ip", limit: 3, windowSeconds: 15 * MINUTE },
  loginIp: { name: "login-ip", limit: 10, windowSeconds: 15 * MINUTE },
  verifyIp: { name: "verify-ip", limit: 30, windowSeconds: 15 * MINUTE },

  /** Codes mailed to one address, sign-up, login and resend together. */
  mailHour: { name: "otp-mail-address-hour", limit: 5, windowSeconds: HOUR, scope: "target" },
  mailDay: { name: "otp-mail-address-day", limit: 20, windowSeconds: DAY, scope: "target" },
  /** One IP's share of them, so that one IP cannot spend the address's budget alone. */
  mailShareHour: { name: "otp-mail-address-ip-hour", limit: 2, windowSeconds: HOUR, scope: "target" },
  mailShareDay: { name: "otp-mail-address-ip-day", limit: 5, windowSeconds: DAY, scope: "target" },

  /** Codes checked against one address's sessions, right or wrong, all sessions together. */
  guessDay: { name: "otp-guess-address-day", limit: 20, windowSeconds: DAY, scope: "target" },
  guessShare: { name: "otp-guess-address-ip", limit: 6, windowSeconds: DAY, scope: "target" },
} satisfies Record<string, Rule>;

type Hits = readonly (readonly [Rule, string])[];

/**
 * Development on one's own machine is not abuse: following the README signs up four accounts from
 * one address within minutes (two in the cURL walkthrough, two in the chat), past sign-up's 3 per
 * 15 minutes, and the counts outlive restarts in DATA_DIR. So a development server (NODE_ENV=
 * development, the default) gives a caller on loopback every budget of this flow this many times
 * over. Production and tests keep the real budgets, and so does any caller from another address
 * (behind a trusted proxy the caller is the forwarded address, never the proxy's loopback).
 */
export const DEVELOPMENT_SCALE = 100;
const loopback = new BlockList();
loopback.addSubnet("127.0.0.0", 8, "ipv4");
loopback.addAddress("::1", "ipv6");

/** How many times the real budgets this caller gets: 1, or DEVELOPMENT_SCALE (see above). */
export function budgetScale(env: Config["NODE_ENV"], clientIp: string): number {
  if (env !== "development") return 1;
  const onLoopback = loopback.check(clientIp, "ipv4") || loopback.check(clientIp, "ipv6");
  return onLoopback ? DEVELOPMENT_SCALE : 1;
}

const scaled = (hits: Hits, by: number): Hits =>
  by === 1 ? hits : hits.map(([rule, key]) => [{ ...rule, limit: rule.limit * by }, key] as const);

/** What starting a code costs: the caller's IP budget for the purpose, and the address's mail budgets. */
export const startCosts = (purpose: "signup" | "login", email: string, ip: string, scale: number): Hits =>
  scaled(
    [
      [purpose === "signup" ? budgets.signupIp : budgets.loginIp, ip],
      [budgets.mailHour, email],
      [budgets.mailDay, email],
      [budgets.mailShareHour, `${email}\n${ip}`],
      [budgets.mailShareDay, `${email}\n${ip}`],
    ],
    scale,
  );

/** What sending a code to be checked costs the caller's IP. */
export const verifyCosts = (ip: string, scale: number): Hits => scaled([[budgets.verifyIp, ip]], scale);

/** What checking a code costs the address it was sent to. */
export const guessCosts = (email: string, ip: string, scale: number): Hits =>
  scaled(
    [
      [budgets.guessDay, email],
      [budgets.guessShare, `${email}\n${ip}`],
    ],
    scale,
  );
