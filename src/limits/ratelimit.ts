import type { Collection } from "mongodb";
import { AppError } from "../http/errors.js";
import type { Clock } from "../lib/clock.js";
import { sha256 } from "../lib/random.js";
import type { CounterDoc } from "./counters.js";

export interface Rule {
  name: string;
  limit: number;
  windowSeconds: number;
  /**
   * `caller` (the default): the caller's own budget (its IP, its account), shown in X-RateLimit-*.
   * `target`: a budget that protects a person (an email address, a device) whoever calls; its count
   * is never shown, since it would tell one caller what others did. A 429 carries only Retry-After.
   */
  scope?: "caller" | "target";
}

export interface Verdict {
  allowed: boolean;
  limit: number;
  /** Hits left now, the previous window's weight included. */
  remaining: number;
  /**
   * When the caller may count on one more hit: the end of the current counting window (hits then
   * start to fade over the next one) while allowed; once refused, the moment Retry-After names,
   * which the previous window's weight can put past the window's end.
   */
  resetAt: Date;
  /** Seconds until one more hit would be allowed; 0 when this one was. */
  retryAfter: number;
  /** Gives an allowed hit back (a request refused by another rule costs nothing). */
  refund(): Promise<void>;
}

/** Where limit headers go: a Hono context satisfies it. */
export interface HeaderSink {
  header(name: string, value: string): void;
}

const EPSILON = 1e-9;

/**
 * The sliding-window-counter estimate: hits in the current fixed window plus the previous window's
 * hits weighted by how much of it the sliding window still covers. `elapsed` is the fraction of the
 * current window gone by; `counted` the current window's hits without the one being decided.
 */
export function slidingWindow(limit: number, elapsed: number, counted: number, previous: number) {
  const carried = previous * (1 - elapsed);
  const allowed = counted + 1 + carried <= limit + EPSILON;
  const used = counted + (allowed ? 1 : 0) + carried;
  return { allowed, remaining: Math.max(0, Math.floor(limit - used + EPSILON)), carried };
}

/** Fraction of a window to wait, from `elapsed`, until one more hit fits (nothing else arriving). */
export function waitFraction(limit: number, elapsed: number, counted: number, previous: number): number {
  const room = limit - 1 - counted;
  if (room >= 0 && previous > 0) {
    // Still in this window, once enough of the previous one has slid out.
    const at = 1 - room / previous;
    if (at < 1) return Math.max(0, at - elapsed);
  }
  // In the next window, where this window's hits become the weighted ones.
  const next = counted > 0 ? Math.max(0, 1 - (limit - 1) / counted) : 0;
  return 1 - elapsed + next;
}

/**
 * Rate limits kept in the database, so every server process sees the same counts. Each rule counts
 * in fixed windows, one counter document per key and window, and decides on a sliding window: the
 * current window's count plus the previous one's, weighted by its overlap (see docs/abuse.md for
 * why this and not an exact log). A hit is one `$inc` upsert and one read, both by `_id`, in
 * parallel. A refused hit is taken back, so hammering a closed budget does not keep it closed.
 */
export function createRateLimiter(col: Collection<CounterDoc>, clock: Clock) {
  async function hit(rule: Rule, key: string): Promise<Verdict> {
    const now = clock.now().getTime();
    const size = rule.windowSeconds * 1000;
    const window = Math.floor(now / size);
    const elapsed = (now - window * size) / size;
    const base = sha256(`${rule.name}\n${key}`);
    const id = `${base}.${window}`;
    const [current, previous] = await Promise.all([
      col.findOneAndUpdate(
        { _id: id },
        { $inc: { n: 1 }, $setOnInsert: { expires_at: new Date((window + 2) * size) } },
        { upsert: true, returnDocument: "after" }, // no projection: the local store refuses one here
      ),
      col.findOne({ _id: `${base}.${window - 1}` }, { projection: { n: 1 } }),
    ]);
    const counted = (current?.n ?? 1) - 1;
    const prev = previous?.n ?? 0;
    const take = () => col.updateOne({ _id: id }, { $inc: { n: -1 } }).then(() => {});
    const { allowed, remaining } = slidingWindow(rule.limit, elapsed, counted, prev);
    if (!allowed) await take();
    const retryAfter = allowed
      ? 0
      : Math.max(1, Math.ceil((waitFraction(rule.limit, elapsed, counted, prev) * size) / 1000));
    return {
      allowed,
      limit: rule.limit,
      remaining,
      resetAt: allowed ? new Date((window + 1) * size) : new Date(now + retryAfter * 1000),
      retryAfter,
      refund: allowed ? take : async () => {},
    };
  }

  /**
   * Counts one hit on every rule, all or nothing: if any refuses, the others are given back and
   * RATE_LIMITED is thrown with Retry-After. X-RateLimit-* describe the tightest caller-scoped rule.
   * Every 429 looks the same whichever rule refused it: the body names no rule and the caller's
   * rule shows nothing left, so a refusal a target's budget caused (an address's mail budget) tells
   * the caller nothing their own budget would not have (counting requests until the 429 came would
   * otherwise tell how many codes others had an address sent).
   */
  async function enforceAll(sink: HeaderSink, hits: readonly (readonly [Rule, string])[]) {
    const verdicts = await Promise.all(hits.map(([rule, key]) => hit(rule, key)));
    const refused = verdicts.some((v) => !v.allowed);
    if (refused) await Promise.all(verdicts.map((v) => v.refund()));
    const shown = verdicts
      .filter((_, i) => hits[i]![0].scope !== "target")
      .sort((a, b) => a.remaining - b.remaining)[0];
    // The longest wait decides, and X-RateLimit-Reset names the same moment as Retry-After.
    const longest = verdicts.reduce((a, b) => (b.retryAfter > a.retryAfter ? b : a));
    const retry = longest.retryAfter;
    const headers = shown
      ? rateHeaders(
          refused
            ? { ...shown, allowed: false, remaining: 0, retryAfter: retry, resetAt: longest.resetAt }
            : shown,
        )
      : {};
    for (const [k, v] of Object.entries(headers)) sink.header(k, v);
    if (refused) {
      throw new AppError(
        "RATE_LIMITED",
        "Rate limit exceeded; retry after the time Retry-After gives",
        undefined,
        {
          ...headers,
          "Retry-After": String(retry),
        },
      );
    }
  }

  /** Counts a hit on one rule, sets its headers and throws RATE_LIMITED when over the limit. */
  const enforce = (sink: HeaderSink, rule: Rule, key: string) => enforceAll(sink, [[rule, key]]);

  return { hit, enforce, enforceAll };
}
export type RateLimiter = ReturnType<typeof createRateLimiter>;

/** Echo's headers; Retry-After only once nothing is left. */
export function rateHeaders(v: Omit<Verdict, "refund">): Record<string, string> {
  const h: Record<string, string> = {
    "X-RateLimit-Limit": String(v.limit),
    "X-RateLimit-Remaining": String(v.remaining),
    "X-RateLimit-Reset": String(Math.ceil(v.resetAt.getTime() / 1000)),
  };
  if (!v.allowed) h["Retry-After"] = String(v.retryAfter);
  return h;
}
