import { describe, expect, it } from "vitest";
import { MAX_RANGES, parseRange } from "../../src/attachments/ranges.js";

const size = 1000;
const ranges = (header: string) => {
  const r = parseRange(header, size);
  if (r.kind !== "partial") throw new Error(`${header}: ${r.kind}`);
  return r.ranges.map(({ start, end }) => [start, end]);
};

describe("Range header parsing (RFC 9110)", () => {
  it("reads first bytes, middle ranges, open ends and suffixes, clamped to the size", () => {
    expect(ranges("bytes=0-0")).toEqual([[0, 0]]);
    expect(ranges("bytes=100-199")).toEqual([[100, 199]]);
    expect(ranges("bytes=900-")).toEqual([[900, 999]]);
    expect(ranges("bytes=-1")).toEqual([[999, 999]]);
    expect(ranges("bytes=-5000")).toEqual([[0, 999]]);
    expect(ranges("bytes=990-5000")).toEqual([[990, 999]]);
    expect(ranges("BYTES = 1-2")).toEqual([[1, 2]]);
  });

  it("merges overlapping and adjacent ranges in order, and drops those past the end", () => {
    expect(ranges("bytes=50-59, 0-9, 5-14, 15-20, 2000-3000")).toEqual([
      [0, 20],
      [50, 59],
    ]);
  });

  it("serves the whole body without a header, for another unit, or when If-Range is stale", () => {
    expect(parseRange(undefined, size).kind).toBe("full");
    expect(parseRange("items=0-1", size).kind).toBe("full");
    expect(parseRange("bytes=0-1", size, { given: '"old"', etag: '"new"' }).kind).toBe("full");
    expect(parseRange("bytes=0-1", size, { given: '"new"', etag: '"new"' }).kind).toBe("partial");
  });

  it("is unsatisfiable when nothing starts within the body, when malformed, or when asking too much", () => {
    for (const h of [
      "bytes=1000-",
      "bytes=-0",
      "bytes=5-1",
      "bytes=a-b",
      "bytes=-",
      "bytes=",
      "bytes=1-2-3",
    ]) {
      expect(parseRange(h, size).kind, h).toBe("unsatisfiable");
    }
    const many = Array.from({ length: MAX_RANGES + 1 }, (_, i) => `${i * 10}-${i * 10}`).join(",");
    expect(parseRange(`bytes=${many}`, size).kind).toBe("unsatisfiable");
  });
});
