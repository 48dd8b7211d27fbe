import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { freePort } from "../../src/local-store.js";
import { checkedFetch, conformanceChecker } from "../helpers/conformance.js";
import { dropDatabase } from "../helpers/hush.js";

const root = new URL("../..", import.meta.url).pathname;
const check = conformanceChecker();

/** Runs the real entry file (`npm start`'s command) with the given environment. */
function run(env: Record<string, string>, untilLine?: RegExp) {
  const child = spawn(process.execPath, ["--import", "tsx", "src/index.ts"], {
    cwd: root,
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const done = new Promise<{ code: number | null; out: string }>((resolve) => {
    const onData = (d: Buffer) => {
      out += d.toString();
      if (untilLine?.test(out)) resolve({ code: null, out });
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code) => resolve({ code, out }));
  });
  return { child, done };
}

describe("the entry file", () => {
  it("exits 1 naming each bad variable", async () => {
    const { code, out } = await run({ PORT: "x", LOG_LEVEL: "loud" }).done;
    expect(code).toBe(1);
    expect(out).toContain("PORT");
    expect(out).toContain("LOG_LEVEL");
  });

  it("refuses to start in production with development defaults", async () => {
    const { code, out } = await run({ NODE_ENV: "production", MONGODB_URI: inject("mongoUri") }).done;
    expect(code).toBe(1);
    expect(out).toMatch(/JWT_SECRET/);
    expect(out).toMatch(/SMTP_URL/);
  });

  it("serves with MONGODB_URI and shuts down cleanly on SIGTERM", async () => {
    const port = await freePort();
    const { child, done } = run(
      {
        MONGODB_URI: inject("mongoUri"),
        MONGODB_DB: "hush_entry_test",
        PORT: String(port),
        HOST: "127.0.0.1",
      },
      /"listening"/,
    );
    await done;
    const r = await checkedFetch(check, `http://127.0.0.1:${port}/readyz`);
    expect(r.status).toBe(200);
    const exit = new Promise<number | null>((resolve) => child.on("exit", resolve));
    child.kill("SIGTERM");
    expect(await exit).toBe(0);
    await dropDatabase("hush_entry_test");
  });

  it("starts the embedded store under DATA_DIR when MONGODB_URI is unset, keeping data across restarts", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hush-entry-"));
    try {
      for (const round of [1, 2]) {
        const port = await freePort();
        const { child, done } = run({ DATA_DIR: dir, PORT: String(port), HOST: "127.0.0.1" }, /"listening"/);
        const { out } = await done;
        expect(out).toContain("local FerretDB");
        const r = await checkedFetch(check, `http://127.0.0.1:${port}/api/v1/auth/signup`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ email: `restart${round}@example.com` }),
        });
        expect(r.status).toBe(200);
        if (round === 2) {
          // The first run's OTP session is still in the store after the restart.
          const { MongoClient } = await import("mongodb");
          const uri = /store at (mongodb:\/\/\S+)/.exec(out)?.[1];
          expect(uri).toBeTruthy();
          const client = await MongoClient.connect(uri!);
          const n = await client
            .db("hush")
            .collection("otp_sessions")
            .countDocuments({ email: "restart1@example.com" });
          await client.close();
          expect(n).toBe(1);
        }
        const exit = new Promise((resolve) => child.on("exit", resolve));
        child.kill("SIGTERM");
        expect(await exit).toBe(0);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
