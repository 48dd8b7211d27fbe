import { Binary, BSON, BSONRegExp, Decimal128, Double, Int32, Long, ObjectId, Timestamp } from "mongodb";
import { describe, expect, it } from "vitest";
import { ownStore } from "../helpers/own-store.js";

/*
 * Every document comes back from the local store as it went in, byte for byte in BSON: each value
 * with its type (int, long, double), each field in its place. The store reads most documents in one
 * pass (store/_ferretdb_patch/hush_sjson.go) and some the way FerretDB does (binary data, regular
 * expressions, timestamps): both are read here, with and without a projection, through the real
 * wire protocol.
 */
const own = ownStore("documents", { promoteValues: false, promoteLongs: false });

/** Keys and strings with what JSON escapes (quotes, backslashes, <, &, U+2028) and what it does not. */
const awkward = [
  'q"uote',
  "back\\slash",
  "<tag>&amp;",
  "line\u2028sep",
  "é ключ 😀",
  "tab\there",
  "nul\u0001x",
];

const nested = {
  a: new Int32(1),
  ...Object.fromEntries(awkward.map((k, i) => [k, `${k}:${i}`])),
  empty: {},
  deeper: { list: [new Int32(1), "two", { three: new Double(3.5) }, null, true] },
};
const docs = [
  { _id: new ObjectId() },
  {
    _id: new ObjectId(),
    string: 'caf\u00e9 "quoted" \\ \n \u2028 😀 <&>',
    emptyString: "",
    int: new Int32(-2147483648),
    intMax: new Int32(2147483647),
    long: Long.fromString("-9223372036854775808"),
    longMax: Long.fromString("9223372036854775807"),
    longSmall: Long.fromNumber(7),
    double: new Double(1e300),
    tiny: new Double(5e-324),
    zero: new Double(0),
    whole: new Double(42),
    fraction: new Double(-1.5),
    yes: true,
    no: false,
    nothing: null,
    past: new Date(-62135596800000),
    now: new Date(1700000000123),
    nested,
    list: [new Int32(1), "s", nested, null, { inList: [] }, false, new Double(0)],
    emptyDoc: {},
    emptyList: [],
  },
  // At the top level, FerretDB writes keys as they are: those JSON need not escape.
  { _id: new ObjectId(), ...Object.fromEntries(awkward.slice(2, 5).map((k) => [k, k])) },
  // Read the way FerretDB reads them: each makes its whole document go the long way.
  { _id: new ObjectId(), label: "binary", bin: new Binary(Buffer.from([0, 1, 2, 255]), 0), n: new Int32(3) },
  { _id: new ObjectId(), label: "regex", re: new BSONRegExp("^a.c$", "i") },
  { _id: new ObjectId(), label: "timestamp", ts: new Timestamp({ t: 1700000000, i: 7 }) },
  { _id: new ObjectId(), label: "deep binary", deep: { list: [{ bin: new Binary(Buffer.from("x"), 4) }] } },
];

const bytes = (d: object) => Buffer.from(BSON.serialize(d)).toString("hex");

describe("documents read back from the local store", () => {
  it("come back byte for byte, every type and field order kept", async () => {
    const col = own.db.collection("docs");
    await col.insertMany(docs.map((d) => ({ ...d })));
    const got = await col.find({}).sort({ _id: 1 }).toArray();
    expect(got.map(bytes)).toEqual(
      [...docs].sort((a, b) => a._id.toHexString().localeCompare(b._id.toHexString())).map(bytes),
    );
    for (const d of docs) expect(bytes((await col.findOne({ _id: d._id }))!)).toBe(bytes(d));
  });

  it("come back projected as the projection says", async () => {
    const col = own.db.collection("projected");
    await col.insertMany(docs.map((d) => ({ ...d })));
    const full = docs[1] as Record<string, unknown>;
    const got = await col.findOne(
      { _id: full._id as ObjectId },
      { projection: { _id: 0, long: 1, nested: 1, now: 1 } },
    );
    expect(bytes(got!)).toBe(bytes({ long: full.long, now: full.now, nested: full.nested })); // in the document's order
    const bin = await col.findOne({ label: "binary" }, { projection: { _id: 0, bin: 1 } });
    expect(bytes(bin!)).toBe(bytes({ bin: (docs[3] as { bin: Binary }).bin }));
  });

  it("gives back negative zero as zero (FerretDB makes it so at insert)", async () => {
    const col = own.db.collection("zero");
    const { insertedId } = await col.insertOne({ z: new Double(-0), list: [new Double(-0)] });
    const got = (await col.findOne({ _id: insertedId }, { projection: { _id: 0 } }))!;
    expect(bytes(got)).toBe(bytes({ z: new Double(0), list: [new Double(0)] }));
    expect(Object.is(got.z.valueOf(), 0)).toBe(true);
  });

  it("refuses at insert what it could not give back, and stores none of it", async () => {
    const col = own.db.collection("refused");
    for (const doc of [
      { d: Decimal128.fromString("1.5") },
      { 'q"uote': 1 }, // a top-level key JSON must escape: FerretDB would write it unescaped
      { list: [[1]] },
    ])
      await expect(col.insertOne(doc)).rejects.toThrow();
    expect(await col.countDocuments({})).toBe(0);
  });
});
