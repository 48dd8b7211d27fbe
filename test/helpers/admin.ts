import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { type AdminCommand, adminOutput } from "../../src/admin/schemas.js";

const run = promisify(execFile);
const root = new URL("../..", import.meta.url).pathname;

/**
 * `npm run admin -- <command> <args> --json` as an operator runs it, in a child process with only
 * `env` (plus PATH and USER=operator); its output is parsed with the command's strict schema.
 */
export async function admin<C extends AdminCommand>(command: C, args: string[], env: Record<string, string>) {
  const { stdout } = await run(
    process.execPath,
    ["--import", "tsx", "scripts/admin.ts", ...command.split(" "), ...args, "--json"],
    { cwd: root, env: { PATH: process.env.PATH ?? "", USER: "operator", ...env } },
  );
  return adminOutput[command].parse(JSON.parse(stdout)) as ReturnType<(typeof adminOutput)[C]["parse"]>;
}
