import { ObjectId } from "mongodb";
import { describe, expect, it } from "vitest";
import { Positions } from "../../src/messages/positions.js";

const conversation = new ObjectId();
const message = (seq: number, conversation_id = conversation) => ({
  _id: new ObjectId(),
  conversation_id,
  seq,
});

describe("positions of messages at the ends of served pages", () => {
  it("knows a noted message in its own conversation only, however its id is cased", () => {
    const positions = new Positions();
    const m = message(7);
    expect(positions.seqOf(m._id.toHexString(), conversation)).toBeUndefined();
    positions.note([m]);
    expect(positions.seqOf(m._id.toHexString(), conversation)).toBe(7);
    expect(positions.seqOf(m._id.toHexString().toUpperCase(), conversation)).toBe(7);
    expect(positions.seqOf(m._id.toHexString(), new ObjectId())).toBeUndefined();
  });

  it("holds at most `max`, forgetting the one noted longest ago (noting again makes it new)", () => {
    const positions = new Positions(3);
    const [a, b, c, d] = [message(1), message(2), message(3), message(4)];
    positions.note([a, b, c]);
    positions.note([a]);
    positions.note([d]);
    const known = [a, b, c, d].map((m) => positions.seqOf(m._id.toHexString(), conversation));
    expect(known).toEqual([1, undefined, 3, 4]);
  });
});
