import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { conformanceChecker, type Observed } from "../helpers/conformance.js";
import { type Spawned, spawnServer } from "../helpers/spawned.js";

const root = new URL("../..", import.meta.url).pathname;
const run = promisify(execFile);

/** The commands of the README's walkthrough block, exactly as a reader would paste them. */
function walkthrough(): string[] {
  const readme = readFileSync(`${root}README.md`, "utf8");
  const block = /<!-- walkthrough:start -->\s*```bash\n([\s\S]*?)```\s*<!-- walkthrough:end -->/.exec(
    readme,
  )?.[1];
  if (!block) throw new Error("README has no walkthrough block");
  return block
    .split(/\n(?=#)/)
    .map((chunk) => chunk.replace(/^#.*\n/, "").trim())
    .filter(Boolean);
}

/**
 * Runs one step as written, with `curl` wrapped to also save the status, headers and body, so the
 * answer goes through the same conformance check as every other test's. Returns what the reader
 * would see on the terminal, and the observed response.
 */
async function runStep(cmd: string, dir: string): Promise<{ shown: string; observed: Observed }> {
  const [head, out] = [join(dir, "head"), join(dir, "body")];
  rmSync(head, { force: true });
  rmSync(out, { force: true });
  const wrapper = `curl() { command curl -D '${head}' -o '${out}' "$@"; }\n`;
  const { stdout } = await run("bash", ["-c", wrapper + cmd]);
  const body = readFileSync(out, "utf8");
  // Only the last block counts when curl saw an interim response such as 100 Continue.
  const block = readFileSync(head, "utf8")
    .trim()
    .split(/\r?\n\r?\n/)
    .at(-1)!;
  const [statusLine = "", ...lines] = block.split(/\r?\n/);
  const headers = new Headers(
    lines.map((l): [string, string] => [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 1).trim()]),
  );
  let parsed: unknown = body || null;
  try {
    parsed = body ? JSON.parse(body) : null;
  } catch {}
  const observed: Observed = {
    method: /-X\s+([A-Z]+)/.exec(cmd)?.[1] ?? "GET",
    url: /https?:\/\/[^\s"']+/.exec(cmd)![0],
    status: Number(statusLine.split(" ")[1]),
    headers,
    body: parsed,
  };
  return { shown: body + stdout, observed };
}

// A development server: no SMTP, so the OTP mails are printed to its console.
let server: Spawned;
beforeAll(async () => {
  server = await spawnServer();
});
afterAll(() => server?.stop());

describe("README cURL walkthrough", () => {
  it("works as written, step by step", async () => {
    const steps = walkthrough();
    expect(steps).toHaveLength(15);
    const vars: Record<string, string> = {};
    const outputs: string[] = [];
    const check = conformanceChecker();
    const dir = mkdtempSync(join(tmpdir(), "hush-readme-"));
    for (const step of steps) {
      const codes = [...server.output().matchAll(/verification code is (\d{6})/g)];
      if (codes.length) vars.OTP = codes.at(-1)![1]!;
      let cmd = step.replaceAll("localhost:8000", `127.0.0.1:${server.port}`);
      for (const [k, v] of Object.entries(vars)) cmd = cmd.replace(new RegExp(`\\b${k}\\b`, "g"), v);
      const { shown, observed } = await runStep(cmd, dir);
      check(observed);
      outputs.push(shown);
      try {
        const body = JSON.parse(shown);
        if (body.session_id) vars.SESSION_ID = body.session_id;
        if (body.temp_token) vars.TEMP_TOKEN = body.temp_token;
        if (body.session_token) vars.SESSION_TOKEN = body.session_token;
        if (body.refresh_token) vars.REFRESH_TOKEN = body.refresh_token;
        if (body.username === "testuser") vars.USER_ID = body.id;
        if (body.type === "one_to_one") vars.CONVERSATION_ID = body.id;
      } catch {}
    }
    rmSync(dir, { recursive: true, force: true });
    const [signup, verify, complete, me, refresh, login, verifyLogin, logout, ...rest] = outputs.map(
      (o, i) => (i === 7 ? o : JSON.parse(o)),
    );
    const [, , friend, conversation, devices, sent, page] = rest;
    expect(signup).toMatchObject({ expires_in: 300, message: "OTP sent successfully to test@example.com" });
    expect(verify).toMatchObject({ verified: true });
    expect(complete).toMatchObject({
      email: "test@example.com",
      username: "testuser",
      devices: [{ device_id: "test-device" }],
    });
    expect(me).toMatchObject({ id: complete.id, email: "test@example.com" });
    expect(refresh).toMatchObject({ token_type: "Bearer" });
    expect(login).toMatchObject({ message: "OTP sent successfully to test@example.com" });
    expect(verifyLogin).toMatchObject({ verified: true, user: { id: complete.id } });
    expect(verifyLogin.user.devices).toHaveLength(2);
    expect(logout.trim()).toBe("204");
    expect(friend).toMatchObject({ username: "frienduser", devices: [{ device_id: "friend-phone" }] });
    expect(conversation).toMatchObject({
      type: "one_to_one",
      participants: [{ user_id: complete.id, username: "testuser" }],
    });
    expect(devices.devices.map((d: { device_id: string }) => d.device_id).sort()).toEqual(
      ["friend-phone", "laptop", "test-device"].sort(),
    );
    expect(sent).toMatchObject({
      conversation_id: conversation.id,
      sender_id: friend.id,
      encrypted_content: "ZW5jcnlwdGVkIGJsb2I=",
      recipient_keys: [],
    });
    expect(page).toMatchObject({ total: 1, has_more: false, messages: [{ id: sent.id }] });
  });
});
