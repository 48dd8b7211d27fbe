import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import openapiTS, { astToString } from "openapi-typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readBody } from "../helpers/conformance.js";
import { freshIp, type Hush, startHush } from "../helpers/hush.js";

const root = new URL("../..", import.meta.url).pathname;
const flowFile = join(root, "test/client/flow.ts");
const run = promisify(execFile);

let h: Hush;
let dir: string;
beforeAll(async () => {
  h = await startHush();
  dir = mkdtempSync(join(tmpdir(), "hush-client-"));
});
afterAll(async () => {
  await h?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Every answer the generated client gets goes through the same conformance check as `h.req`'s. */
async function checkedFetch(request: Request): Promise<Response> {
  // Each call from its own client IP, so the per-IP sign-up limit stays out of the way.
  request.headers.set("x-forwarded-for", freshIp());
  const res = await fetch(request);
  const body = await readBody(res.clone());
  h.check({ method: request.method, url: request.url, status: res.status, headers: res.headers, body });
  return res;
}

describe("a TypeScript client generated from the served spec", () => {
  it("type-checks under tsc --strict with no casts and no any, then signs up, edits a profile and adds a contact", async () => {
    // As an integrator would: types generated from the running server's /openapi.json.
    const ast = await openapiTS(new URL("/openapi.json", h.url));
    const types = join(dir, "hush-api.d.ts");
    writeFileSync(types, astToString(ast));
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noUncheckedIndexedAccess: true,
          noEmit: true,
          target: "ES2023",
          module: "NodeNext",
          moduleResolution: "NodeNext",
          skipLibCheck: true,
          types: ["node"],
          typeRoots: [join(root, "node_modules/@types")],
          paths: { "hush-api": [types] },
        },
        files: [flowFile],
      }),
    );

    const code = readFileSync(flowFile, "utf8").replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, "");
    expect(code, "casts, any, non-null assertions or ts directives").not.toMatch(
      /\bany\b|\bas\s+[A-Z{(]|!\.|@ts-/,
    );
    const tsc = join(root, "node_modules/typescript/bin/tsc");
    const checked = await run(process.execPath, [tsc, "-p", join(dir, "tsconfig.json")]).catch(
      (e: { stdout: string }) => ({ stdout: e.stdout, failed: true }),
    );
    expect(checked.stdout).toBe("");

    // Loaded by URL so that the project's own typecheck, which cannot see hush-api, skips it.
    const { run: flow } = await import(pathToFileURL(flowFile).href);
    const out = await flow({
      baseUrl: h.url,
      otp: (email: string) => h.smtp.code(email),
      fetch: checkedFetch,
      tag: Date.now().toString(36),
    });
    expect(out).toMatchObject({
      signedUp: { tokenType: "Bearer", devices: 1 },
      me: { birthday: "1990-05-17", gender: null },
      patched: { bio: "Hello from a generated client", showsStatus: false },
      seenByBob: { status: null },
      missingCode: "USER_NOT_FOUND",
      request: { status: "requested", httpStatus: 201 },
      accepted: "accepted",
      contacts: [{ status: "accepted" }],
      total: 1,
    });
  }, 120_000);
});
