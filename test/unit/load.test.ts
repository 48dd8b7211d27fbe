import { describe, expect, it } from "vitest";
import { createLoad } from "../../src/lib/load.js";

describe("live work (src/lib/load.ts)", () => {
  it("is busy while tracked work runs, whether it succeeds or fails", async () => {
    const load = createLoad();
    expect(load.busy()).toBe(false);
    expect(load.started()).toBe(0);
    let ok!: () => void;
    let fail!: (e: Error) => void;
    const one = load.track(new Promise<void>((r) => (ok = r)));
    const two = load.track(new Promise<void>((_, r) => (fail = r)));
    expect(load.busy()).toBe(true);
    ok();
    await one;
    expect(load.busy()).toBe(true);
    fail(new Error("x"));
    await expect(two).rejects.toThrow("x");
    expect(load.busy()).toBe(false);
    expect(load.started()).toBe(2); // what came and went still counts: a job compares two readings
  });

  it("quiet resolves at once when idle, when the last work settles, or after its bound", async () => {
    const load = createLoad();
    await load.quiet(60_000); // idle: at once (a wait would time the test out)
    let ok!: () => void;
    const work = load.track(new Promise<void>((r) => (ok = r)));
    const order: string[] = [];
    const waited = load.quiet(60_000).then(() => order.push("quiet"));
    await Promise.resolve();
    order.push("settling");
    ok();
    await work;
    await waited;
    expect(order).toEqual(["settling", "quiet"]);
    const held = load.track(new Promise<void>(() => {}));
    await load.quiet(1); // bounded: goes on under constant load
    expect(load.busy()).toBe(true);
    void held;
  });
});
