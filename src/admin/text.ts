import type { AdminCommand } from "./schemas.js";

type Row = Record<string, unknown>;
const line = (r: Row) =>
  Object.entries(r)
    .map(([k, v]) => `${k}=${typeof v === "object" && v !== null ? JSON.stringify(v) : String(v)}`)
    .join("  ");

/** The plain-text form of a command's result: one line per item, `key=value` pairs. */
export function describe(command: AdminCommand, result: unknown): string {
  const r = result as Row;
  switch (command) {
    case "invite create":
      return `invite ${(r.invite as Row).id} created; give this code to the person (it is not shown again):\n  ${r.code}\n`;
    case "invite list":
      return list(r.invites as Row[], "no invites");
    case "users list":
      return list(r.users as Row[], "no accounts match");
    case "audit":
      return list(r.entries as Row[], "nothing recorded yet");
    case "users show":
      return `${line(r.user as Row)}\ncounts: ${line(r.counts as Row)}\n${list(r.devices as Row[], "no devices")}`;
    case "stats":
      return `${Object.entries(r)
        .map(([k, v]) => `${k}: ${typeof v === "object" ? line(v as Row) : v}`)
        .join("\n")}\n`;
    default:
      return `${line(r)}\n`;
  }
}

const list = (rows: Row[], empty: string) => (rows.length ? `${rows.map(line).join("\n")}\n` : `${empty}\n`);
