import { execFile } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import openapiTS, { astToString } from "openapi-typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readBody } from "../helpers/conformance.js";
import { freshIp, type Hush, signUp, startHush } from "../helpers/hush.js";

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

/**
 * A proxy a generated client in another language talks to: every answer it forwards goes through
 * the conformance check (`checkedFetch`); what the check refused is kept for the test to report.
 */
async function checkingProxy() {
  const refused: string[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) {
      if (typeof value === "string" && !["host", "connection", "content-length"].includes(name))
        headers.set(name, value);
    }
    const body = chunks.length ? Buffer.concat(chunks) : undefined;
    try {
      const answer = await checkedFetch(new Request(h.url + req.url, { method: req.method, headers, body }));
      const bytes = Buffer.from(await answer.arrayBuffer());
      const out = Object.fromEntries(
        [...answer.headers].filter(
          ([n]) => !/^(content-encoding|transfer-encoding|connection|keep-alive)$/.test(n),
        ),
      );
      res.writeHead(answer.status, { ...out, "content-length": String(bytes.length) });
      res.end(bytes);
    } catch (err) {
      refused.push(`${req.method} ${req.url}: ${(err as Error).message}`);
      res.writeHead(502).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, refused, close: () => new Promise((r) => server.close(r)) };
}

/** What both flows answer: the same steps, in the same order (test/client/flow.py, Flow.java). */
const flowAnswers = (me: string) => ({
  me,
  missing: [404, expect.anything()],
  conversation: { type: "one_to_one", member_count: 2 },
  timer: 60,
  timer_off: null,
  upload: true,
  missing_after_part: 0,
  resumable: true,
});

const tools = join(root, ".cache/clients");
/** The served spec, saved for the generators. */
async function spec() {
  const file = join(dir, "openapi.json");
  writeFileSync(file, await (await fetch(new URL("/openapi.json", h.url))).text());
  return file;
}

describe("clients generated in other languages from the served spec", () => {
  // Installs the pinned generators into .cache/clients when they are not there (scripts/client-tools.sh);
  // a missing python3, java or mvn fails here rather than skipping.
  beforeAll(async () => {
    await run("bash", [join(root, "scripts/client-tools.sh")], { cwd: root });
  }, 300_000);

  it("Python (openapi-python-client): the package and a program using it pass mypy --strict, and the program runs a flow", async () => {
    const out = join(dir, "py");
    mkdirSync(out);
    const config = join(out, "config.yaml");
    // No post hooks: the generator would run whichever ruff is on PATH over the package.
    writeFileSync(config, "post_hooks: []\n");
    const generated = await run(join(tools, "py/bin/openapi-python-client"), [
      "generate",
      "--path",
      await spec(),
      "--meta",
      "none",
      "--config",
      config,
      "--output-path",
      join(out, "hush_client"),
    ]);
    expect(generated.stdout + generated.stderr, "generator warnings").not.toMatch(/warning|error/i);
    copyFileSync(join(root, "test/client/flow.py"), join(out, "flow.py"));
    const checked = await run(
      join(tools, "py/bin/mypy"),
      ["--strict", "--cache-dir", join(tools, "mypy-cache"), "hush_client", "flow.py"],
      { cwd: out },
    ).catch((e: { stdout: string }) => ({ stdout: e.stdout }));
    expect(checked.stdout).toMatch(/^Success: no issues found/);

    const alice = await signUp(h);
    const bob = await signUp(h);
    const proxy = await checkingProxy();
    try {
      const flow = await run(join(tools, "py/bin/python"), ["flow.py"], {
        cwd: out,
        env: { ...process.env, HUSH_URL: proxy.url, ALICE_TOKEN: alice.token, BOB_ID: bob.id },
      });
      expect(proxy.refused).toEqual([]);
      const answers = JSON.parse(flow.stdout);
      expect(answers).toEqual({ ...flowAnswers(alice.username), missing: [404, "USER_NOT_FOUND"] });
    } finally {
      await proxy.close();
    }
  }, 180_000);

  it("Java (openapi-generator's default client): compiles with Maven, and a program using it runs a flow", async () => {
    const out = join(dir, "java");
    const jar = join(tools, "openapi-generator-cli-7.27.0.jar");
    await run("java", [
      "-jar",
      jar,
      "generate",
      "-g",
      "java",
      "-i",
      await spec(),
      "-o",
      out,
      "--skip-validate-spec",
    ]);
    copyFileSync(join(root, "test/client/Flow.java"), join(out, "src/main/java/Flow.java"));
    const maven = ["-q", "-B", `-Dmaven.repo.local=${join(tools, "m2")}`];
    const compiled = await run(
      "mvn",
      [...maven, "compile", "dependency:build-classpath", "-Dmdep.outputFile=cp.txt"],
      {
        cwd: out,
        maxBuffer: 16 * 1024 * 1024,
      },
    ).catch((e: { stdout: string }) => ({ stdout: e.stdout, failed: true }));
    expect(
      compiled.stdout.split("\n").filter((l) => l.includes("ERROR")),
      "compile errors",
    ).toEqual([]);

    const alice = await signUp(h);
    const bob = await signUp(h);
    const proxy = await checkingProxy();
    try {
      const classpath = `${join(out, "target/classes")}:${readFileSync(join(out, "cp.txt"), "utf8").trim()}`;
      const flow = await run("java", ["-cp", classpath, "Flow"], {
        env: { ...process.env, HUSH_URL: proxy.url, ALICE_TOKEN: alice.token, BOB_ID: bob.id },
      });
      expect(proxy.refused).toEqual([]);
      expect(JSON.parse(flow.stdout)).toEqual({ ...flowAnswers(alice.username), missing: [404, true] });
    } finally {
      await proxy.close();
    }
  }, 240_000);
});
