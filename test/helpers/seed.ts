import { randomInt } from "node:crypto";
import { beforeEach } from "vitest";

/**
 * The seed of this run's test randomness (chaos timings, unique test data): TEST_SEED=<n> replays
 * it. Random unless given, so runs keep exploring; a failing test prints it.
 */
export const testSeed = Number(process.env.TEST_SEED ?? randomInt(2 ** 31 - 1));

/** mulberry32: a small seeded generator of numbers in [0, 1), for tests only (never for keys). */
export function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FNV-1a: a test's name as a number, so each test draws its own sequence from the run's seed. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * A seeded generator in place of Math.random, for the tests of the calling file (or describe
 * block): each test draws its own sequence, from the run's seed and the test's name, so a test
 * replays alone or with others; each test that fails prints the seed. Call it at the top level of a
 * file or describe block; draw only inside tests (or what they call).
 */
export function seededRandom(): () => number {
  let draw: (() => number) | undefined;
  beforeEach(({ task, onTestFailed }) => {
    draw = generator(testSeed ^ hash(task.fullName));
    onTestFailed(() => {
      console.error(`random draws came from TEST_SEED=${testSeed}: rerun with it to replay them`);
    });
  });
  return () => {
    if (!draw) throw new Error("seededRandom(): draw inside a test");
    return draw();
  };
}
