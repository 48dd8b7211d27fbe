import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openApiJson } from "../../src/openapi-doc.js";
import { type Hush, startHush } from "../helpers/hush.js";

let h: Hush;
beforeAll(async () => {
  h = await startHush();
});
afterAll(() => h?.close());

describe("OpenAPI spec", () => {
  it("schemas/openapi.json is what the code generates (run `npm run schemas` after changing a route)", () => {
    const committed = readFileSync(new URL("../../schemas/openapi.json", import.meta.url), "utf8");
    expect(committed).toBe(openApiJson());
  });

  it("the server serves the same document at /openapi.json", async () => {
    const r = await h.req("GET", "/openapi.json");
    expect(r.status).toBe(200);
    expect(r.body).toEqual(JSON.parse(openApiJson()));
    expect(r.body.openapi).toBe("3.1.0");
    expect(r.body.components.securitySchemes.bearerAuth).toMatchObject({ type: "http", scheme: "bearer" });
  });

  it("every operation has an operationId, tags, and protected ones declare bearer auth", async () => {
    const { body } = await h.req("GET", "/openapi.json");
    const publicOps = new Set([
      "banner",
      "healthz",
      "readyz",
      "metrics",
      "signup",
      "login",
      "resendOtp",
      "verifyOtp",
      "completeSignup",
      "refresh",
    ]);
    for (const [path, item] of Object.entries<any>(body.paths)) {
      for (const [method, op] of Object.entries<any>(item)) {
        expect(op.operationId, `${method} ${path}`).toBeTruthy();
        expect(op.tags?.length, `${method} ${path}`).toBeGreaterThan(0);
        if (!publicOps.has(op.operationId))
          expect(op.security, `${method} ${path}`).toEqual([{ bearerAuth: [] }]);
      }
    }
  });

  it("Swagger UI is served at /docs", async () => {
    const r = await h.req("GET", "/docs");
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toMatch(/text\/html/);
    expect(r.body).toContain("swagger-ui");
    expect(r.body).toContain("/openapi.json");
  });
});
