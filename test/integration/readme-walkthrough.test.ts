import { execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { conformanceChecker } from "../helpers/conformance.js";
import {
  blockOffsets,
  chatAnswers,
  chatSteps,
  consoleCode,
  curlSteps,
  runCurlStep,
  Terminal,
} from "../helpers/readme.js";
import { type Spawned, spawnServer } from "../helpers/spawned.js";

const root = new URL("../..", import.meta.url).pathname;
const run = promisify(execFile);

/*
 * The README's walkthroughs as a newcomer follows them: one development server (`npm start`: no
 * SMTP, so the mails and their codes are printed to its console), the cURL walkthrough, then the
 * two-terminal chat, in the order the README gives them, every request from the same address. That
 * is four sign-ups from one address within minutes, past production's sign-up budget: the
 * development budgets for loopback (docs/abuse.md, "Development on loopback") let it through.
 */
let server: Spawned;
let dir = "";
const terminals = new Map<string, Terminal>();
beforeAll(async () => {
  server = await spawnServer();
  dir = mkdtempSync(join(tmpdir(), "hush-readme-"));
});
afterAll(async () => {
  // Each terminal is a process group (bash, npm, node): end the whole group.
  for (const t of terminals.values()) if (t.proc.exitCode === null) process.kill(-t.proc.pid!, "SIGTERM");
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** The cURL walkthrough, step by step, each placeholder filled in from the previous answers. */
async function curlWalkthrough() {
  const steps = curlSteps();
  expect(steps).toHaveLength(15);
  const vars: Record<string, string> = {};
  const outputs: string[] = [];
  const check = conformanceChecker();
  for (const step of steps) {
    const code = consoleCode(server.output());
    if (code) vars.OTP = code;
    let cmd = step.replaceAll("localhost:8000", `127.0.0.1:${server.port}`);
    for (const [k, v] of Object.entries(vars)) cmd = cmd.replace(new RegExp(`\\b${k}\\b`, "g"), v);
    const { shown, observed } = await runCurlStep(cmd, dir);
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
  const [signup, verify, complete, me, refresh, login, verifyLogin, logout, ...rest] = outputs.map((o, i) =>
    i === 7 ? o : JSON.parse(o),
  );
  const [friendSignup, , friend, conversation, devices, sent, page] = rest;
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
  expect(friendSignup).toMatchObject({ message: "OTP sent successfully to friend@example.com" });
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
}

/** The code the server printed for `email` that was not typed yet (its print may trail the answer). */
async function freshCode(email: string, used: Set<string>): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const code = consoleCode(server.output(), email);
    if (code && !used.has(code)) {
      used.add(code);
      return code;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no code printed for ${email}:\n${server.output()}`);
}

/**
 * The two-terminal chat, typed as written. The terminals get only PATH, HOME and PORT, as a shell
 * where `npm start` serves on PORT would: the chat finds the server from PORT alone.
 */
async function chatWalkthrough() {
  const all = chatSteps();
  expect(all).toHaveLength(9);
  const local = (s: string) => s.replaceAll(".hush", dir);
  const used = new Set<string>();
  for (const step of all) {
    for (const command of step.commands) {
      const email = /\S+@\S+/.exec(command)![0];
      const proc = spawn("bash", ["-c", local(command)], {
        cwd: root,
        env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", PORT: String(server.port) },
        stdio: ["pipe", "pipe", "pipe"],
        detached: true,
      });
      terminals.set(step.terminal, new Terminal(proc, email));
    }
    const t = terminals.get(step.terminal)!;
    for (const input of step.inputs) {
      const from = t.lines.length;
      let line = local(input);
      if (input === "CODE") {
        await t.waitFor(/^enter the code mailed to /);
        line = await freshCode(t.email, used);
      }
      // The fingerprint the pending device shows in its own terminal, typed here as a person would.
      if (line.includes("FINGERPRINT")) {
        const shown = await terminals.get("Terminal 3")!.waitFor(/^fingerprint: /);
        line = line.replace("FINGERPRINT", shown.slice("fingerprint: ".length));
      }
      t.type(line);
      const answer = chatAnswers.find(([typed]) => typed.test(line))?.[1];
      if (answer) await t.waitFor(answer, from);
    }
  }
  const alice = terminals.get("Terminal 1")!;
  const bob = terminals.get("Terminal 2")!;
  await bob.waitFor(/^alice: Hello Bob!$/);
  await alice.waitFor(/^bob is typing$/);
  await alice.waitFor(/^bob: Hi Alice! Here is the README\.$/);
  await alice.waitFor(/^delivered \w+ by bob$/);
  await alice.waitFor(/^read \w+ by bob$/);
  await alice.waitFor(/^ {2}file README\.md \(\d+ bytes\) in message \w+$/);
  expect(await alice.waitFor(/ unread\)$/)).toMatch(/ bob \(\d+ unread\)$/);
  // The laptop waited, pending, until Alice approved it; Bob was told; then it got Bob's message too.
  const laptop = terminals.get("Terminal 3")!;
  await laptop.waitFor(/^this device is pending/);
  await laptop.waitFor(/^this device is now linked$/);
  await bob.waitFor(/^alice linked device laptop$/);
  await alice.waitFor(/^bob: Both your devices get this\.$/);
  await laptop.waitFor(/^bob: Both your devices get this\.$/);
  const saved = await alice.waitFor(/^saved /);
  expect(saved).toContain("digest checked");
  expect(readFileSync(join(dir, "README.md"), "utf8")).toBe(readFileSync(`${root}README.md`, "utf8"));
  // Alice has the conversation open: Bob's last message is read at once, and shown delivered first.
  const last = /^sent (\w+)$/.exec(bob.lines.filter((l) => /^sent \w+$/.test(l)).at(-1)!)![1];
  await bob.waitFor(new RegExp(`^read ${last} by alice$`));
  for (const t of [alice, bob])
    t.lines.forEach((l, i) => {
      const read = /^read (\w+) by (\w+)$/.exec(l);
      if (read) expect(t.lines.slice(0, i)).toContain(`delivered ${read[1]} by ${read[2]}`);
    });
  // The keys stayed in the terminals' folders, each remembering its server; the server never saw the text.
  expect(server.output()).not.toContain("Hello Bob");
  expect(JSON.parse(readFileSync(join(dir, "alice/device.json"), "utf8")).device.secretKey).toBeTypeOf(
    "string",
  );
  expect(JSON.parse(readFileSync(join(dir, "bob/chat.json"), "utf8"))).toEqual({
    server: `http://localhost:${server.port}`,
  });
  // Resumed later with nothing set (no PORT), Bob's folder finds its server by itself.
  const resuming = run(
    process.execPath,
    ["--import", "tsx", "sdk/src/cli/chat.ts", "--dir", join(dir, "bob")],
    {
      cwd: root,
      env: { PATH: process.env.PATH ?? "" },
    },
  );
  resuming.child.stdin!.end(); // no input: it connects, says it is ready, and quits
  const resumed = await resuming;
  expect(resumed.stdout).toContain("ready as bob@example.com");
}

describe("the README's walkthroughs", () => {
  it("work as written, in README order, from one address: cURL, then two accounts chat live " +
    "(receipts in order, typing, a file end to end, a linked laptop)", { timeout: 180_000 }, async () => {
    const at = blockOffsets();
    expect(at.curl).toBeGreaterThan(0);
    expect(at.chat).toBeGreaterThan(at.curl);
    await curlWalkthrough();
    await chatWalkthrough();
  });
});
