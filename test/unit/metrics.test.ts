import { describe, expect, it } from "vitest";
import { Metrics, observe } from "../../src/lib/metrics.js";

describe("Metrics", () => {
  it("renders histogram buckets cumulatively, with +Inf, sum and count", () => {
    const m = new Metrics();
    const h = m.histogram("t_seconds", "test", [0.1, 1, 10]);
    for (const v of [0.05, 0.1, 0.5, 2, 20]) h.observe('route="/a"', v);
    observe(h.series('route="/a"'), 0.01);
    const text = m.render();
    expect(text).toContain('t_seconds_bucket{route="/a",le="0.1"} 3');
    expect(text).toContain('t_seconds_bucket{route="/a",le="1"} 4');
    expect(text).toContain('t_seconds_bucket{route="/a",le="10"} 5');
    expect(text).toContain('t_seconds_bucket{route="/a",le="+Inf"} 6');
    expect(text).toContain('t_seconds_sum{route="/a"} 22.66');
    expect(text).toContain('t_seconds_count{route="/a"} 6');
  });

  it("adds to a counter by key, through a kept series or by labels", () => {
    const m = new Metrics();
    const c = m.counter("c_total", "test");
    c.add('a="1"', 2);
    c.series('a="1"').n += 1;
    m.inc("c_total", "test", { a: 1 });
    expect(m.render()).toContain('c_total{a="1"} 4');
  });
});
