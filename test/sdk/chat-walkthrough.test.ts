import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Smtp, startSmtp } from "../helpers/smtp.js";
import { type Spawned, spawnServer } from "../helpers/spawned.js";

const root = new URL("../..", import.meta.url).pathname;

interface Step {
  terminal: string;
  commands: string[];
  inputs: string[];
}

/** The README's two-terminal block: numbered steps, each in one terminal, `$` commands and `>` input. */
function steps(): Step[] {
  const readme = readFileSync(`${root}README.md`, "utf8");
  const block = /<!-- chat:start -->\s*```text\n([\s\S]*?)```\s*<!-- chat:end -->/.exec(readme)?.[1];
  if (!block) throw new Error("README has no chat block");
  return block.split(/\n(?=# \d+\.)/).map((chunk) => {
    const terminal = /^# \d+\. (Terminal \d+):/.exec(chunk)?.[1];
    if (!terminal) throw new Error(`step without a terminal: ${chunk}`);
    const lines = chunk.split("\n");
    return {
      terminal,
      commands: lines.filter((l) => l.startsWith("$ ")).map((l) => l.slice(2)),
      inputs: lines.filter((l) => l.startsWith("> ")).map((l) => l.slice(2)),
    };
  });
}

/** One terminal: a process started as written, its output kept line by line. */
class Terminal {
  readonly lines: string[] = [];
  private waiters: { re: RegExp; from: number; resolve: (l: string) => void }[] = [];
  constructor(
    readonly proc: ChildProcess,
    readonly email: string,
  ) {
    let buffer = "";
    proc.stdout!.on("data", (d: Buffer) => {
      buffer += d.toString();
      const parts = buffer.split("\n");
      buffer = parts.pop()!;
      for (const line of parts) {
        this.lines.push(line);
        this.waiters = this.waiters.filter((w) => {
          if (!w.re.test(line)) return true;
          w.resolve(line);
          return false;
        });
      }
    });
    proc.stderr!.on("data", (d: Buffer) => this.lines.push(`stderr: ${d}`));
  }
  /** The first line from `from` on matching `re`, now or when it comes. */
  waitFor(re: RegExp, from = 0, timeoutMs = 30_000): Promise<string> {
    const found = this.lines.slice(from).find((l) => re.test(l));
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no line matching ${re} within ${timeoutMs} ms:\n${this.lines.join("\n")}`)),
        timeoutMs,
      );
      this.waiters.push({
        re,
        from,
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
      });
    });
  }
  type(line: string) {
    this.proc.stdin!.write(`${line}\n`);
  }
}

/** What each typed line answers in its own terminal, so the next step starts after it. */
const answers: [RegExp, RegExp | null][] = [
  [/^\d{6}$/, /^ready as /],
  [/^\/open /, /^opened conversation /],
  [/^\/file /, /^sent \w+ \(file /],
  [/^\/save /, /^saved /],
  [/^\/list$/, / unread\)$/],
  [/^\/approve /, /^approved /],
  [/^\/typing$/, null], // answered in the other terminal only
  [/^[^/]/, /^sent \w+$/],
];

let server: Spawned;
let smtp: Smtp;
let url = "";
let dir = "";
const terminals = new Map<string, Terminal>();

beforeAll(async () => {
  smtp = await startSmtp();
  server = await spawnServer({ SMTP_URL: smtp.url });
  url = server.url;
  dir = mkdtempSync(join(tmpdir(), "hush-chat-"));
});
afterAll(async () => {
  // Each terminal is a process group (bash, npm, node): end the whole group.
  for (const t of terminals.values()) if (t.proc.pid) process.kill(-t.proc.pid, "SIGTERM");
  await server?.stop();
  await smtp?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("README two-terminal chat", { timeout: 120_000 }, () => {
  it("works as written: two accounts chat live, see receipts and typing, and send a file end to end", async () => {
    const all = steps();
    expect(all).toHaveLength(9);
    const local = (s: string) => s.replaceAll(".hush", dir);
    for (const step of all) {
      for (const command of step.commands) {
        const email = /\S+@\S+/.exec(command)![0];
        const proc = spawn("bash", ["-c", local(command)], {
          cwd: root,
          env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", HUSH_SERVER: url },
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
          line = smtp.code(t.email);
        }
        // The fingerprint the pending device shows in its own terminal, typed here as a person would.
        if (line.includes("FINGERPRINT")) {
          const shown = await terminals.get("Terminal 3")!.waitFor(/^fingerprint: /);
          line = line.replace("FINGERPRINT", shown.slice("fingerprint: ".length));
        }
        t.type(line);
        const answer = answers.find(([typed]) => typed.test(line))?.[1];
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
    // The keys stayed in the terminals' folders; the server never saw the text.
    expect(server.output()).not.toContain("Hello Bob");
    expect(JSON.parse(readFileSync(join(dir, "alice/device.json"), "utf8")).device.secretKey).toBeTypeOf(
      "string",
    );
  });
});
