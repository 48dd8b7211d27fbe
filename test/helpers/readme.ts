import { type ChildProcess, execFile } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Observed } from "./conformance.js";

/** The README's walkthroughs, as a reader finds them, and the means to run them as written. */
const root = new URL("../..", import.meta.url).pathname;
const run = promisify(execFile);
export const readme = () => readFileSync(`${root}README.md`, "utf8");

/** Where each walkthrough block starts in the README, to run them in the order a reader meets them. */
export const blockOffsets = () => ({
  curl: readme().indexOf("<!-- walkthrough:start -->"),
  chat: readme().indexOf("<!-- chat:start -->"),
});

/** The last code a development server printed for `email` (its console mailer). */
export function consoleCode(output: string, email?: string): string | undefined {
  const mails = [...output.matchAll(/--- mail to (\S+): [^\n]*\n[\s\S]*?verification code is (\d{6})/g)];
  return mails.filter((m) => !email || m[1] === email).at(-1)?.[2];
}

/** The commands of the README's cURL walkthrough block, exactly as a reader would paste them. */
export function curlSteps(): string[] {
  const block = /<!-- walkthrough:start -->\s*```bash\n([\s\S]*?)```\s*<!-- walkthrough:end -->/.exec(
    readme(),
  )?.[1];
  if (!block) throw new Error("README has no walkthrough block");
  return block
    .split(/\n(?=#)/)
    .map((chunk) => chunk.replace(/^#.*\n/, "").trim())
    .filter(Boolean);
}

/**
 * Runs one cURL step as written, with `curl` wrapped to also save the status, headers and body, so
 * the answer goes through the same conformance check as every other test's. Returns what the
 * reader would see on the terminal, and the observed response.
 */
export async function runCurlStep(cmd: string, dir: string): Promise<{ shown: string; observed: Observed }> {
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

export interface ChatStep {
  terminal: string;
  commands: string[];
  inputs: string[];
}

/** The README's two-terminal block: numbered steps, each in one terminal, `$` commands and `>` input. */
export function chatSteps(): ChatStep[] {
  const block = /<!-- chat:start -->\s*```text\n([\s\S]*?)```\s*<!-- chat:end -->/.exec(readme())?.[1];
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

/** What each typed line answers in its own terminal, so the next step starts after it. */
export const chatAnswers: [RegExp, RegExp | null][] = [
  [/^\d{6}$/, /^ready as /],
  [/^\/open /, /^opened conversation /],
  [/^\/file /, /^sent \w+ \(file /],
  [/^\/save /, /^saved /],
  [/^\/list$/, / unread\)$/],
  [/^\/approve /, /^approved /],
  [/^\/typing$/, null], // answered in the other terminal only
  [/^[^/]/, /^sent \w+$/],
];

/** One terminal: a process started as written, its output kept line by line. */
export class Terminal {
  readonly lines: string[] = [];
  private waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
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
