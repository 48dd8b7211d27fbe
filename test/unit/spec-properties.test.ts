import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { ZodType } from "zod";
import { openApiDocument } from "../../src/app.js";
import { specApp } from "../../src/openapi-doc.js";

/**
 * For every request field the spec bounds with a pattern or a length, generated from the spec's own
 * JSON Schema: values the spec accepts are accepted by the route's zod schema (what the server
 * runs), and values it refuses are refused. So a client validating against the spec never sends
 * what the server refuses, nor refuses what the server takes.
 *
 * Seeded: PROPERTY_SEED=<n> replays a run; a failure prints its seed and counterexample.
 */
const seed = Number(process.env.PROPERTY_SEED ?? Math.floor(Math.random() * 2 ** 31));
const numRuns = 60;

// Rules JSON Schema cannot say, which the fields' descriptions state; for these only the refusals
// are checked (a value the spec accepts may still be refused for this reason).
const ruleInWords: Record<string, string> = {
  public_key: "a valid curve key (a 33-byte key starts with 0x05)",
  date_of_birth: "a real calendar date in the past",
  picture_url: "https on a public host",
  avatar_url: "https on a public host",
  endpoint: "https on a public host (http only where PUSH_ALLOW_PRIVATE is set)",
  p256dh: "a point on the P-256 curve",
};

type Json = Record<string, any>;
interface Field {
  where: string;
  name: string;
  spec: Json;
  zod: ZodType;
}

/** The zod schema inside optional, nullable, default and pipe wrappers (the pipe's input side). */
function inner(s: ZodType): ZodType {
  const def = (s as any)._zod.def;
  if (["optional", "nullable", "default", "prefault", "readonly"].includes(def.type))
    return inner(def.innerType);
  if (def.type === "pipe") return inner(def.in);
  return s;
}

/** Every string field with a pattern or length, paired with the zod schema that parses it. */
function fields(): Field[] {
  const app = specApp();
  const doc = openApiDocument(app) as Json;
  const components: Json = doc.components.schemas;
  const found: Field[] = [];
  const seen = new Set<string>();
  const visit = (where: string, name: string, spec: Json, zod: ZodType) => {
    const ref = spec.$ref ?? spec.oneOf?.find((o: Json) => o.$ref)?.$ref;
    if (ref) return walk(ref.split("/").at(-1), zod);
    const types = [spec.type].flat();
    if (types.includes("array"))
      return visit(`${where}[]`, name, spec.items, (inner(zod) as any)._zod.def.element);
    if (types.includes("string") && ("pattern" in spec || "minLength" in spec || "maxLength" in spec))
      found.push({ where, name, spec, zod });
  };
  const walk = (component: string, zod: ZodType) => {
    if (seen.has(component)) return;
    seen.add(component);
    const shape = (inner(zod) as any)._zod.def.shape;
    for (const [name, spec] of Object.entries<Json>(components[component].properties ?? {}))
      visit(`${component}.${name}`, name, spec, shape[name]);
  };
  for (const d of app.openAPIRegistry.definitions) {
    if (d.type !== "route") continue;
    const { request } = d.route;
    const body = (request?.body?.content?.["application/json"] as Json | undefined)?.schema;
    const declared = doc.paths[d.route.path]?.[d.route.method];
    if (body && declared) {
      const ref: string = declared.requestBody.content["application/json"].schema.$ref;
      walk(ref.split("/").at(-1)!, body);
    }
    const query = request?.query ? (inner(request.query as ZodType) as any)._zod.def.shape : {};
    for (const p of declared?.parameters ?? []) {
      if (p.in === "query" && query[p.name])
        visit(`${declared.operationId}?${p.name}`, p.name, p.schema, query[p.name]);
    }
  }
  return found;
}

const spelled = (f: Field) => {
  const pattern = f.spec.pattern ? new RegExp(f.spec.pattern) : undefined;
  // JSON Schema counts characters (code points); the generated values are ASCII, where both agree.
  return (v: string) =>
    (pattern ? pattern.test(v) : true) &&
    v.length >= (f.spec.minLength ?? 0) &&
    v.length <= (f.spec.maxLength ?? Number.POSITIVE_INFINITY);
};

/** Strings the spec accepts for the field: from its pattern, else printable ASCII within its lengths. */
function accepted(f: Field): fc.Arbitrary<string> {
  const ok = spelled(f);
  const lengths = { minLength: f.spec.minLength ?? 0, maxLength: Math.min(f.spec.maxLength ?? 300, 3000) };
  const base = f.spec.pattern
    ? fc.stringMatching(new RegExp(f.spec.pattern))
    : fc.oneof(fc.string(lengths), fc.string({ ...lengths, unit: fc.constantFrom(" ", "\t", "\n") }));
  return base.filter(ok);
}

// Never whitespace: the server trims surrounding spaces off text before checking it (it takes more
// than the spec there, as the descriptions say), and a client never needs to rely on that.
const strayChar = fc.oneof(
  fc.constantFrom("=", "-", "_", "+", "/", ".", "@", "!", "é", "€", "0", "a", "A", "Q", "\u0000"),
  fc.string({ minLength: 1, maxLength: 1 }).filter((c) => !/\s/.test(c)),
);

/** Strings the spec refuses for the field: an accepted one with a character added, removed or changed, or several more. */
function refused(f: Field): fc.Arbitrary<string> {
  const ok = spelled(f);
  const edits = fc
    .tuple(accepted(f), fc.nat(), strayChar, fc.constantFrom("insert", "delete", "replace", "repeat"))
    .map(([v, at, c, how]) => {
      const i = v.length ? at % (v.length + 1) : 0;
      if (how === "insert") return v.slice(0, i) + c + v.slice(i);
      if (how === "delete") return v.slice(0, i) + v.slice(i + 1);
      if (how === "replace") return v.slice(0, i) + c + v.slice(i + 1);
      // One past the longest the spec allows.
      return v + c.repeat(Math.max(1, (f.spec.maxLength ?? v.length) - v.length + 1));
    });
  return edits.filter((v) => !ok(v) && !/^\s|\s$/.test(v));
}

const all = fields();

describe("the spec is exactly as strict as the server, field by field (fast-check, seed printed on failure)", () => {
  it("finds the request fields the spec bounds", () => {
    const names = new Set(all.map((f) => f.name));
    for (const name of [
      "encrypted_content",
      "encrypted_key",
      "email",
      "participant_ids",
      "public_key",
      "otp",
    ])
      expect(names, name).toContain(name);
    expect(all.length).toBeGreaterThan(40);
  });

  it("base64 fields refuse, as the decoder does, spellings with stray padding bits or padding", () => {
    // The fuzzer's finds: each decodes leniently in Node, and the server refuses it.
    const key = all.find((f) => f.where === "DeviceInfo.public_key")!;
    const content = all.find((f) => f.where === "SendMessageRequest.encrypted_content")!;
    for (const v of ["ya=", "xYB=", "QR==", "QUJ", "QQ="]) expect(spelled(content)(v), v).toBe(false);
    for (const v of ["yQ==", "xYA=", "QQ", "QUI"]) expect(spelled(content)(v), v).toBe(true);
    expect(spelled(key)(`${"0".repeat(41)}==`)).toBe(false);
    expect(spelled(key)(`${"A".repeat(42)}A=`)).toBe(true);
    expect(spelled(key)(`${"A".repeat(42)}B=`)).toBe(false);
  });

  it.each(all.map((f) => [f.where, f] as const))("%s: what the spec accepts, the server accepts", (_, f) => {
    if (ruleInWords[f.name]) {
      expect(f.spec.description ?? "", `${f.where} should say its extra rule`).not.toBe("");
      return;
    }
    fc.assert(
      fc.property(accepted(f), (v) => {
        const r = f.zod.safeParse(v);
        if (!r.success) throw new Error(`${JSON.stringify(v)} refused: ${r.error.issues[0]?.message}`);
      }),
      { seed, numRuns },
    );
  });

  it.each(all.map((f) => [f.where, f] as const))("%s: what the spec refuses, the server refuses", (_, f) => {
    fc.assert(
      fc.property(refused(f), (v) => {
        if (f.zod.safeParse(v).success) throw new Error(`${JSON.stringify(v)} accepted by the server`);
      }),
      { seed, numRuns },
    );
  });
});
