/** A byte range, both ends included, as HTTP counts them. */
export interface ByteRange {
  start: number;
  end: number;
}

export type RangeRequest =
  | { kind: "full" }
  | { kind: "partial"; ranges: ByteRange[] }
  | { kind: "unsatisfiable"; reason: string };

/** More ranges than this in one request are refused rather than served as many small parts. */
export const MAX_RANGES = 16;

/**
 * Reads a `Range` header against a representation of `size` bytes (RFC 9110, 14.2). No header, a
 * unit other than bytes, or an `If-Range` that is not the current ETag: the whole body. Ranges
 * that start past the end are dropped; if none is left, or the header is malformed or asks for
 * too many, the answer is 416. Overlapping and adjacent ranges are merged, in order, so a response
 * never carries a byte twice.
 */
export function parseRange(
  header: string | undefined,
  size: number,
  ifRange?: { given: string | undefined; etag: string },
): RangeRequest {
  if (header === undefined) return { kind: "full" };
  if (ifRange?.given !== undefined && ifRange.given !== ifRange.etag) return { kind: "full" };
  const m = /^\s*bytes\s*=(.*)$/i.exec(header);
  if (!m) return { kind: "full" };
  const specs = m[1]!
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (specs.length === 0) return { kind: "unsatisfiable", reason: "The Range header names no range" };
  if (specs.length > MAX_RANGES)
    return { kind: "unsatisfiable", reason: `At most ${MAX_RANGES} ranges in one request` };
  const ranges: ByteRange[] = [];
  for (const spec of specs) {
    const r = /^(\d*)-(\d*)$/.exec(spec);
    if (!r || (r[1] === "" && r[2] === ""))
      return { kind: "unsatisfiable", reason: `Malformed range "${spec.slice(0, 40)}"` };
    if (r[1] === "") {
      const suffix = Number(r[2]);
      if (suffix > 0) ranges.push({ start: Math.max(0, size - suffix), end: size - 1 });
      continue;
    }
    const start = Number(r[1]);
    const end = r[2] === "" ? size - 1 : Number(r[2]);
    if (end < start) return { kind: "unsatisfiable", reason: `Range "${spec}" ends before it starts` };
    if (start < size) ranges.push({ start, end: Math.min(end, size - 1) });
  }
  if (ranges.length === 0)
    return { kind: "unsatisfiable", reason: `No requested range starts within the ${size} bytes` };
  return { kind: "partial", ranges: merge(ranges) };
}

function merge(ranges: ByteRange[]): ByteRange[] {
  const sorted = [...ranges].sort((a, b) => a.start - b.start);
  const out: ByteRange[] = [{ ...sorted[0]! }];
  for (const r of sorted.slice(1)) {
    const last = out.at(-1)!;
    if (r.start <= last.end + 1) last.end = Math.max(last.end, r.end);
    else out.push({ ...r });
  }
  return out;
}
