import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { sdkApiTypes, sdkSocketTypes } from "../../scripts/sdk-types.js";
import { asyncApiJson, openApiJson } from "../../src/openapi-doc.js";

const committed = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), "utf8");

describe("the SDK's generated types", () => {
  it("are what the served OpenAPI document generates (`npm run schemas`)", async () => {
    expect(committed("sdk/src/generated/api.ts")).toBe(await sdkApiTypes(openApiJson()));
  });
  it("are what the AsyncAPI document's frames generate (`npm run schemas`)", async () => {
    const socket = committed("sdk/src/generated/socket.ts");
    expect(socket).toBe(await sdkSocketTypes(asyncApiJson()));
    expect(socket).toContain("identity_changed: {");
  });
  it("the SDK imports nothing of the server", () => {
    const files = [
      "index",
      "client",
      "crypto",
      "stream",
      "directory",
      "prekeys",
      "attachments",
      "http",
      "auth",
      "node",
    ];
    for (const f of files)
      expect(committed(`sdk/src/${f}.ts`)).not.toMatch(/from "\.\.\/\.\.\/src|from "\.\.\/src/);
  });
});
