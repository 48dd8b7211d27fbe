import { describe, expect, it } from "vitest";
import { requestIds } from "../../src/http/observe.js";

describe("requestIds", () => {
  it("gives version 4 UUIDs, all different, across many refills of its random bytes", () => {
    const next = requestIds();
    const seen = new Set<string>();
    for (let i = 0; i < 2_000; i++) {
      const id = next();
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      seen.add(id);
    }
    expect(seen.size).toBe(2_000);
    // Every digit position varies: no byte is left out of the text.
    const ids = [...seen];
    for (let at = 0; at < 36; at++) {
      if ([8, 13, 14, 18, 23].includes(at)) continue; // dashes and the version digit
      expect(new Set(ids.map((id) => id[at])).size, `position ${at}`).toBeGreaterThan(3);
    }
  });
});
