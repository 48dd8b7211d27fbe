import { describe, expect, it } from "vitest";
import { slidingWindow, waitFraction } from "../../src/limits/ratelimit.js";

/** The limiter's decisions replayed over fixed windows, as its counter documents hold them. */
function simulate(limit: number, hitsAt: number[]) {
  const counts = new Map<number, number>();
  const allowedAt: number[] = [];
  for (const t of hitsAt) {
    const w = Math.floor(t);
    const v = slidingWindow(limit, t - w, counts.get(w) ?? 0, counts.get(w - 1) ?? 0);
    if (v.allowed) {
      counts.set(w, (counts.get(w) ?? 0) + 1);
      allowedAt.push(t);
    }
  }
  return { counts, allowedAt };
}

describe("the sliding window counter", () => {
  it("allows exactly `limit` hits in an empty window, and shows what is left", () => {
    const decisions = [0, 1, 2, 3].map((n) => slidingWindow(3, 0.5, n, 0));
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, false]);
    expect(decisions.map((d) => d.remaining)).toEqual([2, 1, 0, 0]);
  });

  it("weighs the previous window by how much of it the sliding window still covers", () => {
    expect(slidingWindow(10, 0.25, 0, 12).allowed).toBe(true); // 12 * 0.75 = 9, +1 = 10
    expect(slidingWindow(10, 0.2, 0, 12).allowed).toBe(false); // 12 * 0.8 = 9.6, +1 > 10
  });

  it("over any stretch, never lets more than `limit` hits into one fixed window, nor 2 × limit into any window's length", () => {
    const limit = 20;
    let seed = 7;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const hits = Array.from({ length: 5_000 }, () => random() * 60).sort((a, b) => a - b);
    const { counts, allowedAt } = simulate(limit, hits);
    for (const n of counts.values()) expect(n).toBeLessThanOrEqual(limit);
    expect(allowedAt.length).toBeLessThanOrEqual(limit * 61);
    for (const t of allowedAt) {
      expect(allowedAt.filter((u) => u > t - 1 && u <= t).length).toBeLessThan(2 * limit);
    }
  });

  it("Retry-After is exact: after waiting it out, one more hit fits", () => {
    for (const [limit, elapsed, counted, previous] of [
      [3, 0.1, 3, 0],
      [3, 0.9, 3, 3],
      [20, 0, 20, 0],
      [20, 0.5, 10, 20],
      [5, 0.3, 2, 5],
    ] as const) {
      expect(slidingWindow(limit, elapsed, counted, previous).allowed).toBe(false);
      const wait = waitFraction(limit, elapsed, counted, previous);
      const at = elapsed + wait + 1e-6;
      const fits =
        at < 1 ? slidingWindow(limit, at, counted, previous) : slidingWindow(limit, at - 1, 0, counted);
      expect(fits.allowed, `${[limit, elapsed, counted, previous]}`).toBe(true);
      // And not much earlier.
      const before = elapsed + wait - 0.01;
      if (before > elapsed) {
        const early =
          before < 1
            ? slidingWindow(limit, before, counted, previous)
            : slidingWindow(limit, before - 1, 0, counted);
        expect(early.allowed).toBe(false);
      }
    }
  });

  it("after a full window spent at its start, one more hit waits at most 1 + 1/limit windows", () => {
    expect(waitFraction(20, 0, 20, 0)).toBeCloseTo(1 + 1 / 20, 10);
  });
});
