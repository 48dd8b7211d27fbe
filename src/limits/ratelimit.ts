import type { Context } from "hono";
import type { Collection } from "mongodb";
import { type Clock, seconds } from "../shared/clock.js";
import { AppError } from "../shared/errors.js";
import { sha256 } from "../shared/random.js";
import { claimSlot, type SlotDoc } from "./slots.js";

export interface Rule {
  name: string;
  limit: number;
  windowSeconds: number;
}
export interface Verdict {
  allowed: boolean;
  limit: number;
  remaining: number;
  resetAt: Date;
}

/**
 * Fixed-window limits kept in MongoDB, so every server process sees the same counts. The counted
 * key (an IP, an email) is stored only as a hash.
 */
export function createRateLimiter(col: Collection<SlotDoc>, clock: Clock) {
  async function hit(rule: Rule, key: string, resetAt?: Date): Promise<Verdict> {
    const now = seconds(clock.now());
    const windowStart = Math.floor(now / rule.windowSeconds) * rule.windowSeconds;
    const reset = resetAt ?? new Date((windowStart + rule.windowSeconds) * 1000);
    const slot = await claimSlot(col, sha256(`${rule.name}:${windowStart}:${key}`), rule.limit, reset);
    return {
      allowed: slot !== null,
      limit: rule.limit,
      remaining: slot === null ? 0 : rule.limit - slot,
      resetAt: reset,
    };
  }

  /** Counts a hit, sets the X-RateLimit-* headers and throws RATE_LIMITED when over the limit. */
  async function enforce(c: Context, rule: Rule, key: string) {
    const v = await hit(rule, key);
    const headers = rateHeaders(v, clock.now());
    for (const [k, val] of Object.entries(headers)) c.header(k, val);
    if (!v.allowed)
      throw new AppError("RATE_LIMITED", `Rate limit exceeded for ${rule.name}`, undefined, headers);
  }

  return { hit, enforce };
}
export type RateLimiter = ReturnType<typeof createRateLimiter>;

/** Echo's headers; Retry-After only once nothing is left. */
export function rateHeaders(v: Verdict, now: Date): Record<string, string> {
  const h: Record<string, string> = {
    "X-RateLimit-Limit": String(v.limit),
    "X-RateLimit-Remaining": String(v.remaining),
    "X-RateLimit-Reset": String(seconds(v.resetAt)),
  };
  if (!v.allowed) h["Retry-After"] = String(Math.max(1, seconds(v.resetAt) - seconds(now)));
  return h;
}
