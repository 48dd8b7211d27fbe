import { describe, expect, it } from "vitest";
import { generator, seededRandom } from "../helpers/seed.js";

describe("seeded test randomness (test/helpers/seed.ts)", () => {
  it("replays: the same seed draws the same numbers, in [0, 1); another seed draws others", () => {
    const draws = (seed: number) => Array.from({ length: 100 }, generator(seed));
    expect(draws(42)).toEqual(draws(42));
    expect(draws(42)).not.toEqual(draws(43));
    for (const x of draws(7)) expect(x >= 0 && x < 1).toBe(true);
    // Spread over [0, 1), not stuck in a corner.
    const mean = draws(9).reduce((a, b) => a + b, 0) / 100;
    expect(mean).toBeGreaterThan(0.35);
    expect(mean).toBeLessThan(0.65);
  });

  const random = seededRandom();
  const first: number[][] = [];
  it("gives each test its own sequence (a)", () => {
    first.push([random(), random()]);
    expect(first[0]![0]).not.toBe(first[0]![1]);
  });
  it("gives each test its own sequence (b)", () => {
    first.push([random(), random()]);
    expect(first[0]).not.toEqual(first[1]);
  });
});
