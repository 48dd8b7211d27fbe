import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { VerifyResult } from "../../src/auth/schemas.js";
import { errorCodes } from "../../src/http/errors.js";
import { asyncApiJson, openApiJson } from "../../src/openapi-doc.js";
import { type Hush, startHush } from "../helpers/hush.js";

let h: Hush;
let spec: any;
beforeAll(async () => {
  h = await startHush();
  spec = (await h.req("GET", "/openapi.json")).body;
});
afterAll(() => h?.close());

const sharedHeaderNames = new Set([
  "X-Request-Id",
  "X-RateLimit-Limit",
  "X-RateLimit-Remaining",
  "X-RateLimit-Reset",
  "Retry-After",
]);

const operations = () =>
  Object.entries<any>(spec.paths).flatMap(([path, item]) =>
    Object.entries<any>(item).map(([method, op]) => ({ where: `${method.toUpperCase()} ${path}`, op })),
  );

/** Every schema object in the document, with where it sits. */
function schemas(): { where: string; schema: any }[] {
  const found: { where: string; schema: any }[] = [];
  const walk = (node: any, where: string): void => {
    if (Array.isArray(node)) {
      for (const [i, n] of node.entries()) walk(n, `${where}[${i}]`);
      return;
    }
    if (typeof node !== "object" || node === null) return;
    if ("type" in node || "$ref" in node || "oneOf" in node || "enum" in node)
      found.push({ where, schema: node });
    for (const [k, v] of Object.entries(node)) walk(v, `${where}/${k}`);
  };
  walk(spec.components.schemas, "#/components/schemas");
  walk(spec.paths, "#/paths");
  return found;
}

/** Every property schema by name, wherever objects declare it. */
const properties = () =>
  schemas().flatMap(({ where, schema }) =>
    Object.entries<any>(schema.properties ?? {}).map(([name, p]) => ({ where: `${where}.${name}`, name, p })),
  );
const resolve = (s: any) => (s?.$ref ? spec.components.schemas[s.$ref.split("/").at(-1)] : s);
/** The schema a property holds, looking through `oneOf [x, null]`. */
const nonNull = (p: any) => resolve(p.oneOf ? p.oneOf.find((o: any) => o.type !== "null") : p);

describe("OpenAPI spec", () => {
  it("schemas/openapi.json is what the code generates (run `npm run schemas` after changing a route)", () => {
    const committed = readFileSync(new URL("../../schemas/openapi.json", import.meta.url), "utf8");
    expect(committed).toBe(openApiJson());
  });

  it("schemas/asyncapi.json is what the WebSocket protocol's schemas generate (`npm run schemas`)", () => {
    const committed = readFileSync(new URL("../../schemas/asyncapi.json", import.meta.url), "utf8");
    expect(committed).toBe(asyncApiJson());
  });

  it("the server serves the AsyncAPI 3 document at /asyncapi.json, every event with a schema", async () => {
    const r = await h.req("GET", "/asyncapi.json");
    expect(r.status).toBe(200);
    expect(r.body).toEqual(JSON.parse(asyncApiJson()));
    expect(r.body.asyncapi).toBe("3.0.0");
    expect(r.body.channels.socket.address).toBe("/api/v1/ws");
    const messages = r.body.components.messages;
    const named = [
      "typing_start",
      "ack",
      "sync",
      "authenticated",
      "pong",
      "error",
      "user_status",
      "contacts_updated",
    ];
    for (const name of named) expect(messages[name]?.payload?.type, name).toBe("object");
    for (const op of Object.values<any>(r.body.operations)) {
      expect(["send", "receive"]).toContain(op.action);
      const [msg] = op.messages;
      expect(messages[msg.$ref.split("/").pop()], msg.$ref).toBeDefined();
    }
  });

  it("the server serves the same document at /openapi.json", () => {
    expect(spec).toEqual(JSON.parse(openApiJson()));
    expect(spec.openapi).toBe("3.1.0");
    expect(spec.components.securitySchemes.bearerAuth).toMatchObject({ type: "http", scheme: "bearer" });
  });

  it("every operation has an operationId and tags; public ones say security: [], the rest bearer", () => {
    const publicOps = new Set(
      "banner healthz readyz metrics signup login resendOtp verifyOtp completeSignup refresh".split(" "),
    );
    for (const { where, op } of operations()) {
      expect(op.operationId, where).toBeTruthy();
      expect(op.tags?.length, where).toBeGreaterThan(0);
      expect(op.security, where).toEqual(publicOps.has(op.operationId) ? [] : [{ bearerAuth: [] }]);
    }
  });

  it("uses shapes generators handle: no allOf or anyOf; a oneOf is discriminated or `x | null`", () => {
    const text = JSON.stringify(spec);
    expect(text).not.toContain('"allOf"');
    expect(text).not.toContain('"anyOf"');
    for (const { where, schema } of schemas().filter((s) => s.schema.oneOf)) {
      const { oneOf, discriminator } = schema;
      if (discriminator) {
        expect(Object.values(discriminator.mapping).sort(), where).toEqual(
          oneOf.map((o: any) => o.$ref).sort(),
        );
        for (const [value, ref] of Object.entries<string>(discriminator.mapping)) {
          const member = resolve({ $ref: ref });
          expect(member.required, where).toContain(discriminator.propertyName);
          expect(member.properties[discriminator.propertyName].enum, where).toEqual([value]);
        }
      } else {
        expect(oneOf, where).toHaveLength(2);
        expect(oneOf[0].$ref, where).toBeTruthy();
        expect(oneOf[1], where).toEqual({ type: "null" });
      }
    }
  });

  it("every operation has a description; verify-otp shows both of its answers, each as the server declares it", () => {
    const missing = operations().filter(({ op }) => !op.description?.trim());
    expect(missing.map((o) => o.where)).toEqual([]);
    const verify = spec.paths["/api/v1/auth/verify-otp"].post.responses["200"].content["application/json"];
    expect(Object.keys(verify.examples).sort()).toEqual(["login", "signup"]);
    for (const [name, example] of Object.entries<any>(verify.examples)) {
      expect(VerifyResult.safeParse(example.value).error, name).toBeUndefined();
      expect(example.value.purpose).toBe(name);
    }
  });

  it("servers is relative, so clients call whichever host and port served the document", async () => {
    const { body } = await h.req("GET", "/openapi.json");
    expect(body.servers).toEqual([{ url: "/", description: expect.any(String) }]);
  });

  it("names every enum of several values once, as a component, and has no boolean enums", () => {
    for (const { where, schema } of schemas().filter((s) => s.schema.enum)) {
      expect(schema.type, where).not.toBe("boolean");
      const values = schema.enum.filter((v: unknown) => v !== null);
      const isComponent = /^#\/components\/schemas\/[A-Za-z]+$/.test(where);
      if (values.length > 1) expect(isComponent, `${where} should be a named enum`).toBe(true);
    }
    expect(spec.components.schemas.ErrorCode.enum).toEqual(Object.keys(errorCodes));
    expect(spec.components.schemas.Error).toBeUndefined();
  });

  it("gives timestamps, dates and emails their formats", () => {
    const props = properties();
    const timestamps = props.filter(({ name }) => /_at$|^last_seen$/.test(name));
    expect(timestamps.length).toBeGreaterThan(5);
    for (const { where, p } of timestamps) expect(nonNull(p).format, where).toBe("date-time");
    for (const { where, p } of props.filter(({ name }) => name === "date_of_birth"))
      expect(nonNull(p).format, where).toBe("date");
    for (const { where, p } of props.filter(({ name }) => name === "email"))
      expect(nonNull(p).format, where).toBe("email");
  });

  it("declares X-Request-Id on every response and the rate-limit headers on rate-limited routes", () => {
    for (const { where, op } of operations()) {
      const limited = "429" in op.responses;
      for (const [status, r] of Object.entries<any>(op.responses)) {
        // Shared headers are references (one table each, optional ones too); a response's own
        // (ETag, Content-Range...) are written inline, with `required`.
        for (const [name, h] of Object.entries<any>(r.headers ?? {}))
          expect(
            h.$ref ?? ("required" in h && !sharedHeaderNames.has(name)),
            `${where} ${status} ${name}`,
          ).toBeTruthy();
        const names = Object.entries<any>(r.headers ?? {})
          .filter(([, h]) => h.$ref || !("required" in h))
          .map(([name]) => name);
        expect(names, `${where} ${status}`).toContain("X-Request-Id");
        const rate = ["X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"];
        // 429 (rate limited) and 503 (store unavailable, readiness) say when to retry.
        const retry = status === "429" || status === "503";
        if (limited) expect(names, `${where} ${status}`).toEqual(expect.arrayContaining(rate));
        else
          expect(names, `${where} ${status}`).toEqual(
            retry ? ["X-Request-Id", "Retry-After"] : ["X-Request-Id"],
          );
        expect(names.includes("Retry-After"), `${where} ${status}`).toBe(retry);
      }
    }
  });

  it("lists, for each error status of each operation, only codes of that status", () => {
    const errorStatuses = new Set(Object.values(errorCodes).map(([status]) => String(status)));
    for (const { where, op } of operations()) {
      for (const [status, r] of Object.entries<any>(op.responses).filter(([s]) => errorStatuses.has(s))) {
        // Readiness answers its own 503 with its status body; it is the one route that never declares STORE_UNAVAILABLE.
        if (where === "GET /readyz" && status === "503") continue;
        const body = r.content["application/json"];
        expect(body.schema, `${where} ${status}`).toEqual({ $ref: "#/components/schemas/ErrorResponse" });
        const codes = Object.keys(body.examples);
        expect(codes.length, `${where} ${status}`).toBeGreaterThan(0);
        for (const code of codes) {
          expect(String(errorCodes[code as keyof typeof errorCodes][0]), `${where} ${code}`).toBe(status);
          expect(r.description, `${where} ${status}`).toContain(`\`${code}\``);
        }
      }
    }
    // Not every route produces every code: a 404 on GET /users/{id} is only ever USER_NOT_FOUND.
    const getUser = spec.paths["/api/v1/users/{user_id}"].get.responses["404"];
    expect(Object.keys(getUser.content["application/json"].examples)).toEqual(["USER_NOT_FOUND"]);
  });

  it("Swagger UI is served at /docs with every file from Hush itself (docs-browser.test.ts renders it)", async () => {
    const r = await h.req("GET", "/docs");
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toMatch(/text\/html/);
    const refs = [...(r.body as string).matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(refs).toContain("/docs/swagger-ui-bundle.js");
    for (const ref of refs) {
      expect(ref).toMatch(/^\/docs\//);
      const asset = await fetch(h.url + ref);
      expect(asset.status, ref).toBe(200);
      await asset.arrayBuffer();
    }
    const init = await (await fetch(`${h.url}/docs/init.js`)).text();
    expect(init).toContain('"/openapi.json"');
  });
});
