import { describe, expect, it } from "vitest";
import { parseFrame } from "../../src/realtime/frames.js";

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
