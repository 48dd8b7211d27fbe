import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { MemoryStore } from "@hush/sdk";
import { FileStore } from "@hush/sdk/node";
import { afterAll, describe, expect, it } from "vitest";
import { freePort } from "../../src/local-store.js";
import { startHush } from "../helpers/hush.js";
import { startSmtp } from "../helpers/smtp.js";
import { spawnServer } from "../helpers/spawned.js";
import { account, recorder } from "./helpers.js";

const root = new URL("../..", import.meta.url).pathname;
const run = promisify(execFile);
const scratch = mkdtempSync(join(tmpdir(), "hush-chat-cli-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Runs the chat with these arguments, environment and input lines (then end of input); resolves with its exit code and output. */
async function chat(args: string[], env: Record<string, string> = {}, input = "") {
  const p = run(process.execPath, ["--import", "tsx", "sdk/src/cli/chat.ts", ...args], {
    cwd: root,
    env: { PATH: process.env.PATH ?? "", ...env },
  });
  p.child.stdin!.end(input);
  return p.then(
    ({ stdout }) => ({ code: 0, stdout }),
    (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
  );
}

describe("npm run chat, before any server", () => {
  it("--help prints the usage, naming --server, HUSH_SERVER and PORT, and creates no folder", async () => {
    const dir = join(scratch, "help");
    const { code, stdout } = await chat(["--dir", dir, "--help"]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^usage: npm run chat -- \[--server URL\]/);
    for (const word of ["--server URL", "HUSH_SERVER", "PORT", "signup EMAIL USERNAME", "login EMAIL"])
      expect(stdout).toContain(word);
    expect(existsSync(dir)).toBe(false);
  });

  it("resuming a folder without a device says so and creates no folder", async () => {
    const dir = join(scratch, "none");
    const { code, stdout } = await chat(["--dir", dir]);
    expect(code).toBe(1);
    expect(stdout).toContain(`error: no device in ${dir}: sign up or log in first`);
    expect(existsSync(dir)).toBe(false);
  });

  it("a server that does not answer is named with the reason, whether from --server or from PORT", async () => {
    const port = await freePort(); // nothing listens there
    const flag = await chat([
      "--dir",
      join(scratch, "a"),
      "--server",
      `http://127.0.0.1:${port}`,
      "login",
      "a@example.com",
    ]);
    expect(flag.code).toBe(1);
    expect(flag.stdout).toContain(
      `error: could not reach the server at http://127.0.0.1:${port} (ECONNREFUSED): is it running?`,
    );
    const env = await chat(["--dir", join(scratch, "b"), "login", "a@example.com"], { PORT: String(port) });
    expect(env.stdout).toContain(`could not reach the server at http://localhost:${port} (ECONNREFUSED)`);
    const bad = await chat(["--dir", join(scratch, "c"), "login", "a@example.com"], {
      HUSH_SERVER: "localhost:8000",
    });
    expect(bad.stdout).toContain("error: not a server address: localhost:8000");
  });
});

describe("npm run chat against a production server", () => {
  it("a refused sign-up says how long to wait (Retry-After)", async () => {
    const smtp = await startSmtp();
    const server = await spawnServer({
      NODE_ENV: "production",
      JWT_SECRET: "x".repeat(32),
      SMTP_URL: smtp.url,
    });
    try {
      const lines = [];
      // Sign-up's budget is 3 per 15 minutes per address; each start here spends one (no code is typed).
      for (let i = 0; i < 4; i++) {
        const name = `u${i}${Date.now()}`;
        const args = [
          "--dir",
          join(scratch, name),
          "--server",
          server.url,
          "signup",
          `${name}@example.com`,
          name,
        ];
        lines.push((await chat(args)).stdout.trim().split("\n").at(-1));
      }
      expect(lines.slice(0, 3)).toEqual(Array(3).fill("error: no code given"));
      expect(lines[3]).toMatch(
        /^error: signup: 429 RATE_LIMITED .* \(try again in (\d+ min( \d+ s)?|\d+ s)\)$/,
      );
    } finally {
      await server.stop();
      await smtp.close();
    }
  });
});

describe("npm run chat's /history", () => {
  it("says a message this device read earlier no longer opens, by design (forward secrecy), instead of an empty line", async () => {
    const h = await startHush();
    try {
      const dir = join(scratch, "history");
      const alice = await account(h, { store: new MemoryStore(), tag: "alice" });
      const bob = await account(h, { store: new FileStore(dir), tag: "bob" });
      const conv = await alice.startConversation(bob.userId);
      await alice.send(conv.id, "read here first");
      // Bob's device reads it (its key is used up), then the chat resumes that device's folder.
      const got = recorder(bob, "message");
      await bob.connect();
      await got.until((s) => s.length === 1);
      await bob.caughtUp();
      bob.disconnect();
      const name = (await alice.api.GET("/api/v1/users/me")).data!.username;
      const { code, stdout } = await chat(["--dir", dir, "--server", h.url], {}, `/open ${name}\n/history\n`);
      expect(code).toBe(0);
      const history = stdout
        .split("\n")
        .slice(stdout.split("\n").findIndex((l) => l.startsWith("opened")) + 1);
      expect(history[0]).toBe(
        `${name}: (read earlier on this device; its key is gone by design — forward secrecy)`,
      );
    } finally {
      await h.close();
    }
  }, 60_000);
});
