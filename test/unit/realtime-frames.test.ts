import { afterEach, describe, expect, it, vi } from "vitest";
import {
  FRAME_UNIT_BYTES,
  frameWeight,
  largestFrame,
  MAX_FRAME_DEPTH,
  MAX_FRAME_VALUES,
  maxFrameBytes,
  PROTOCOL_FRAME_BYTES,
  parseFrame,
} from "../../src/realtime/frames.js";

const text = (s: string) => Buffer.from(s);
const parse = (s: string, max = 1024) => parseFrame(text(s), false, max);
const errorOf = (p: ReturnType<typeof parseFrame>) => ("error" in p ? p : null);

describe("parsing a client frame", () => {
  it("types a well-formed event, defaults applied", () => {
    expect(parse('{"type":"sync","data":{"since":4}}')).toEqual({
      event: { type: "sync", data: { since: 4 } },
    });
    expect(parse('{"type":"ping"}')).toEqual({ event: { type: "ping" } });
  });

  it("names what is wrong: JSON, shape, type, fields, size, binary", () => {
    expect(errorOf(parse("{nope"))?.error.code).toBe("INVALID_JSON");
    expect(errorOf(parse('"ping"'))?.error.fields).toEqual({ type: "required" });
    expect(errorOf(parse('{"type":7}'))?.error.fields).toEqual({ type: "required" });
    const unknown = errorOf(parse('{"type":"shout"}'))!;
    expect(unknown.error.message).toBe("Unknown event type 'shout'");
    expect(unknown.error.fields?.type).toContain("send_message");
    const bad = errorOf(parse('{"type":"ack","data":{"up_to":-1}}'))!;
    expect(bad.inReplyTo).toBe("ack");
    expect(Object.keys(bad.error.fields ?? {})).toEqual(["up_to"]);
    expect(errorOf(parse(`{"type":"ping","x":"${"a".repeat(2000)}"}`))?.error.code).toBe("PAYLOAD_TOO_LARGE");
    expect(errorOf(parseFrame(Buffer.from([1]), true, 1024))?.error.code).toBe("VALIDATION_ERROR");
  });

  it("names a bad send_message field as the REST route does, within data", () => {
    const bad = errorOf(parse('{"type":"send_message","data":{"conversation_id":"x"}}', 10_000))!;
    expect(bad.error.code).toBe("VALIDATION_ERROR");
    expect(bad.error.fields).toMatchObject({ conversation_id: expect.any(String) });
    expect(Object.keys(bad.error.fields ?? {}).some((k) => k.startsWith("data."))).toBe(false);
  });
});

describe("what a frame may cost", () => {
  afterEach(() => vi.restoreAllMocks());

  it("a frame nested past the REST bodies' depth is refused before JSON.parse sees it", () => {
    const realParse = JSON.parse;
    const seen: number[] = [];
    vi.spyOn(JSON, "parse").mockImplementation((text, reviver) => {
      seen.push(String(text).length);
      return realParse(text, reviver);
    });
    const bomb = `{"type":"ping","pad":${"[".repeat(50_000)}${"]".repeat(50_000)}}`;
    const refused = errorOf(parseFrame(Buffer.from(bomb), false, 1 << 20))!;
    expect(refused.error.code).toBe("VALIDATION_ERROR");
    expect(refused.error.fields).toEqual({ frame: `nests deeper than ${MAX_FRAME_DEPTH} levels` });
    expect(seen.filter((n) => n >= bomb.length)).toEqual([]);
    // Up to the limit is JSON as usual (a ping ignores what it does not know).
    const deep = `{"type":"ping","pad":${"[".repeat(MAX_FRAME_DEPTH - 1)}${"]".repeat(MAX_FRAME_DEPTH - 1)}}`;
    expect(parse(deep)).toEqual({ event: { type: "ping" } });
  });

  it("a frame of many small values is refused before JSON.parse, whatever its depth", () => {
    const many = `{"type":"ping","pad":[${Array(MAX_FRAME_VALUES).fill("[0]").join(",")}]}`;
    expect(errorOf(parse(many, 1 << 20))?.error.fields).toEqual({
      frame: `holds more than ${MAX_FRAME_VALUES} values`,
    });
    const fewer = `{"type":"ping","pad":[${Array(MAX_FRAME_VALUES / 2 - 2)
      .fill("[0]")
      .join(",")}]}`;
    expect(parse(fewer, 1 << 20)).toEqual({ event: { type: "ping" } });
  });

  it("the size limit is what the protocol needs: the largest send_message, not a round 1 MiB", () => {
    const largest = largestFrame();
    expect(Buffer.byteLength(largest)).toBeLessThanOrEqual(PROTOCOL_FRAME_BYTES);
    expect(PROTOCOL_FRAME_BYTES).toBeLessThan(1024 * 1024);
    expect(maxFrameBytes(1024 * 1024)).toBe(PROTOCOL_FRAME_BYTES);
    expect(maxFrameBytes(2048)).toBe(2048);
    expect(parseFrame(Buffer.from(largest), false, PROTOCOL_FRAME_BYTES)).toMatchObject({
      event: { type: "send_message" },
    });
  });

  it("a frame weighs one budget unit per 64 KiB begun", () => {
    expect(frameWeight(10)).toBe(1);
    expect(frameWeight(FRAME_UNIT_BYTES)).toBe(1);
    expect(frameWeight(FRAME_UNIT_BYTES + 1)).toBe(2);
    expect(frameWeight(PROTOCOL_FRAME_BYTES)).toBe(15);
  });
});
