import { type ChildProcess, execFile, execFileSync, spawn } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, request as httpRequest } from "node:http";
import { type AddressInfo, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { build } from "esbuild";
import puppeteer from "puppeteer-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshIp, type Hush, startHush } from "../helpers/hush.js";

/*
 * The SDK as a client author gets it: `npm run build` in sdk/, `npm pack` of the built package,
 * installed into a scratch project outside this repository, then used from Node and from a
 * browser bundle (esbuild, platform browser) run in headless Chromium, for a two-client exchange
 * against a real server. Chromium must be installed (.ci/run installs Debian's package), as for
 * test/integration/docs-browser.test.ts; without it this file fails.
 */

const run = promisify(execFile);
const sdk = join(import.meta.dirname, "../../sdk");
const here = join(import.meta.dirname, "package");
let h: Hush;
let scratch: string;

beforeAll(async () => {
  h = await startHush();
  scratch = mkdtempSync(join(tmpdir(), "hush-sdk-package-"));
  await run("npm", ["run", "build"], { cwd: sdk });
  const { stdout } = await run("npm", ["pack", "./dist", "--pack-destination", scratch, "--json"], {
    cwd: sdk,
  });
  const [packed] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
  const app = join(scratch, "app");
  mkdirSync(app);
  writeFileSync(
    join(app, "package.json"),
    JSON.stringify({ name: "scratch-app", private: true, type: "module", dependencies: {} }),
  );
  // From the npm cache this repository's install filled (the registry only for what is not in it).
  await run(
    "npm",
    [
      "install",
      "--prefer-offline",
      "--no-audit",
      "--no-fund",
      join(scratch, packed!.filename.replace(/^@hush\//, "hush-")),
    ],
    { cwd: app },
  );
  for (const f of ["exchange.mjs", "ask.mjs", "node.mjs", "browser.mjs"])
    copyFileSync(join(here, f), join(app, f));
}, 300_000);
afterAll(async () => {
  await h?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

/** Runs a script of the scratch app, answering its OTP questions from the test's SMTP server. */
async function exchange(script: string) {
  const child: ChildProcess = spawn(process.execPath, [script], {
    cwd: join(scratch, "app"),
    env: { ...process.env, HUSH_URL: h.url, TAG: Date.now().toString(36), HUSH_IP: freshIp() },
  });
  let out = "";
  let err = "";
  child.stderr!.on("data", (d) => {
    err += d;
  });
  return new Promise<{ texts: string[]; verified: boolean; stored?: string[] }>((resolve, reject) => {
    child.stdout!.on("data", (d) => {
      out += d;
      for (const line of out.split("\n").slice(0, -1)) {
        if (line.startsWith("CODE ")) child.stdin!.write(`${h.smtp.code(line.slice(5))}\n`);
        if (line.startsWith("RESULT ")) resolve(JSON.parse(line.slice(7)));
      }
      out = out.slice(out.lastIndexOf("\n") + 1);
    });
    child.on("exit", (code) => reject(new Error(`${script} exited ${code}: ${err}`)));
  });
}

/**
 * A small loopback site serving `files`, passing every other request (the socket's upgrade too) on
 * to `target` unchanged: the app and its server at one origin, as a site served beside Hush is
 * (Hush sends no CORS headers), and on loopback, as Chromium lets a loopback page reach loopback.
 */
async function loopbackSite(target: string, files: Record<string, { type: string; body: string }>) {
  const to = new URL(target);
  const server = createServer((req, res) => {
    const file = files[req.url!];
    if (file) return void res.writeHead(200, { "content-type": file.type }).end(file.body);
    const options = {
      host: to.hostname,
      port: to.port,
      path: req.url,
      method: req.method,
      headers: req.headers,
    };
    req.pipe(
      httpRequest(options, (up) => {
        res.writeHead(up.statusCode!, up.headers);
        up.pipe(res);
      }).on("error", () => res.destroy()),
    );
  });
  server.on("upgrade", (req, socket, head) => {
    const up = connect(Number(to.port), to.hostname, () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2)
        lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      up.write(`${lines.join("\r\n")}\r\n\r\n`);
      up.write(head);
      up.pipe(socket).pipe(up);
    });
    up.on("error", () => socket.destroy());
    socket.on("error", () => up.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

describe("the packed SDK in a scratch project", { timeout: 120_000 }, () => {
  it("is ESM with type declarations, and installs with its dependencies", () => {
    const installed = join(scratch, "app/node_modules/@hush/sdk");
    const pkg = JSON.parse(readFileSync(join(installed, "package.json"), "utf8"));
    expect(pkg.exports["."]).toMatchObject({ types: "./index.d.ts", import: "./index.js" });
    expect(pkg.private).toBeUndefined();
    expect(readFileSync(join(installed, "index.d.ts"), "utf8")).toContain("HushClient");
    expect(readFileSync(join(installed, "sessions.js"), "utf8")).not.toContain("import type");
    // No TypeScript sources or the repository's chat in the package.
    expect(() => readFileSync(join(installed, "index.ts"))).toThrow();
    expect(() => readFileSync(join(installed, "cli/chat.js"))).toThrow();
  });

  it("runs a two-client exchange from Node", async () => {
    expect(await exchange("node.mjs")).toEqual({
      texts: ["hello from the package", "and back"],
      verified: true,
    });
  });

  it("bundles for the browser without any Node module, and the bundle runs an exchange in headless Chromium with the browser's own WebSocket and localStorage", async () => {
    const app = join(scratch, "app");
    const result = await build({
      entryPoints: [join(app, "browser.mjs")],
      bundle: true,
      platform: "browser",
      format: "esm",
      outfile: join(app, "bundle.js"),
      logLevel: "silent",
    });
    expect(result.errors).toEqual([]);
    const bundle = readFileSync(join(app, "bundle.js"), "utf8");
    expect(bundle).not.toMatch(/from\s*"(ws|node:[a-z]+)"/);

    const site = await loopbackSite(h.url, {
      "/sdk-test/": {
        type: "text/html",
        body: '<!doctype html><script type="module">import { run } from "./bundle.js"; window.run = run;</script>',
      },
      "/sdk-test/bundle.js": { type: "text/javascript", body: bundle },
    });
    const browser = await puppeteer.launch({
      executablePath: execFileSync("which", ["chromium"], { encoding: "utf8" }).trim(),
      headless: true,
      args: ["--no-sandbox", "--disable-dev-shm-usage"], // CI runs as root, in a container
    });
    try {
      const page = await browser.newPage();
      const problems: string[] = [];
      page.on("pageerror", (e) => problems.push(String(e)));
      await page.exposeFunction("hushCode", (email: string) => h.smtp.code(email));
      await page.goto(`${site.url}/sdk-test/`);
      await page.waitForFunction(() => "run" in window);
      type Run = (o: object) => Promise<{ texts: string[]; verified: boolean }>;
      const got = await page.evaluate(
        async (o) => {
          const w = window as unknown as { run: Run; hushCode: (email: string) => Promise<string> };
          const result = await w.run({ ...o, baseUrl: location.origin, code: w.hushCode });
          const stored = Object.keys(localStorage).filter((k) => k.startsWith("alice:"));
          return { ...result, stored: stored.sort() };
        },
        { tag: Date.now().toString(36), ip: freshIp() },
      );
      expect(got).toMatchObject({ texts: ["hello from the package", "and back"], verified: true });
      // The device's state went to the browser's storage.
      expect(got.stored).toEqual(expect.arrayContaining(["alice:device", "alice:sessions", "alice:prekeys"]));
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
      await site.close();
    }
  });
});
