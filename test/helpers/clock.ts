import type { Clock } from "../../src/lib/clock.js";

/** A clock tests move by hand, so expiry is tested without waiting for it. */
export class FakeClock implements Clock {
  private t: number;
  constructor(start = Date.now()) {
    this.t = start;
  }
  now() {
    return new Date(this.t);
  }
  advance(seconds: number) {
    this.t += seconds * 1000;
  }
}
