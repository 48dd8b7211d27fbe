import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { asyncApiJson, openApiJson } from "../../src/openapi-doc.js";
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
    for (const name of [
      "typing_start",
      "ack",
      "sync",
      "authenticated",
      "pong",
      "error",
      "user_status",
      "contacts_updated",
    ]) {
      expect(messages[name]?.payload?.type, name).toBe("object");
    }
    for (const op of Object.values<any>(r.body.operations)) {
      expect(["send", "receive"]).toContain(op.action);
      const [msg] = op.messages;
      expect(messages[msg.$ref.split("/").pop()], msg.$ref).toBeDefined();
    }
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

  it("servers is relative, so clients call whichever host and port served the document", async () => {
    const { body } = await h.req("GET", "/openapi.json");
    expect(body.servers).toEqual([{ url: "/", description: expect.any(String) }]);
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
