import { parseArgs } from "node:util";
import { ObjectId } from "mongodb";
import { countMemberships } from "../conversations/members.js";
import type { Deps } from "../deps.js";
import { listDevices } from "../devices/repo.js";
import { createInvite, type InviteDoc, listInvites, revokeInvite } from "../invites/repo.js";
import { endSuspendedSessions, listSessions, suspendSessions } from "../sessions/repo.js";
import {
  countSuspended,
  deleteAccount,
  findForAdmin,
  listUsers,
  setSuspended,
  type UserDoc,
} from "../users/repo.js";
import { recent, record } from "./repo.js";
import type { AdminCommand } from "./schemas.js";

/** A refusal the command prints as one line (exit code 1), never a stack trace. */
export class AdminError extends Error {}

const iso = (d: Date) => d.toISOString();
const inviteRow = (i: InviteDoc) => ({
  id: i._id.toHexString(),
  uses: i.uses,
  uses_left: i.uses_left,
  created_at: iso(i.created_at),
  expires_at: i.expires_at ? iso(i.expires_at) : null,
  revoked: i.revoked_at !== null,
});
const userRow = (u: UserDoc) => ({
  id: u._id.toHexString(),
  email: u.email,
  username: u.username,
  status: u.status,
  created_at: iso(u.created_at),
  last_seen_at: iso(u.last_seen_at),
});

/** `7d`, `12h`, `30m` or plain seconds. */
export function parseDuration(v: string): number {
  const m = /^(\d{1,6})([smhd]?)$/.exec(v.trim());
  if (!m) throw new AdminError(`--expires: "${v}" is not a duration like 7d, 12h or 30m`);
  return Number(m[1]) * { "": 1, s: 1, m: 60, h: 3_600, d: 86_400 }[m[2] as "" | "s" | "m" | "h" | "d"];
}

async function who(deps: Deps, arg: string | undefined) {
  if (!arg) throw new AdminError("name the account: its email, username or id");
  const user = await findForAdmin(deps, arg);
  if (!user) throw new AdminError(`no account is ${arg}`);
  return user;
}

export interface Outcome {
  command: AdminCommand;
  result: unknown;
  /** The audit entry's target and details. */
  target: string | null;
  details: Record<string, string | number | null>;
}

/**
 * Runs one operator command against the store `deps` reaches and records it in the audit
 * collection (the `audit` listing itself included). `actor` is who ran it.
 */
/** What `backup` and `restore` do to files, given by the entry file (src/admin/backup.ts). */
export interface FileOps {
  backup(file: string): Promise<{ file: string; bytes: number }>;
  /** Set when this run restored a backup into DATA_DIR before connecting to it. */
  restored?: { data_dir: string; bytes: number };
}

export async function runAdmin(deps: Deps, argv: string[], actor: string, files?: FileOps): Promise<Outcome> {
  const { values: o, positionals: p } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: "boolean" },
      uses: { type: "string" },
      expires: { type: "string" },
      search: { type: "string" },
      reason: { type: "string" },
      limit: { type: "string" },
    },
  });
  const limit = Math.min(Math.max(Number(o.limit ?? 100) || 100, 1), 1_000);
  const outcome = await dispatch(deps, p, o, limit, files);
  await record(deps, { actor, action: outcome.command, target: outcome.target, details: outcome.details });
  return outcome;
}

async function dispatch(
  deps: Deps,
  p: string[],
  o: { uses?: string; expires?: string; search?: string; reason?: string },
  limit: number,
  files: FileOps | undefined,
): Promise<Outcome> {
  const [group, verb, arg] = p;
  const done = (command: AdminCommand, result: unknown, target: string | null = null, details = {}) => ({
    command,
    result,
    target,
    details,
  });
  // `invite` and `users` take a verb; the others take at most an argument.
  switch (group === "invite" || group === "users" ? `${group} ${verb ?? ""}`.trim() : group) {
    case "invite create": {
      const uses = Number(o.uses ?? 1);
      if (!Number.isInteger(uses) || uses < 1 || uses > 10_000) throw new AdminError("--uses: 1 to 10000");
      const seconds = o.expires ? parseDuration(o.expires) : null;
      const expiresAt = seconds === null ? null : new Date(deps.clock.now().getTime() + seconds * 1000);
      const { code, invite } = await createInvite(deps, { uses, expiresAt });
      return done("invite create", { invite: inviteRow(invite), code }, invite._id.toHexString(), {
        uses,
        expires_in_seconds: seconds,
      });
    }
    case "invite list":
      return done("invite list", { invites: (await listInvites(deps, limit)).map(inviteRow) });
    case "invite revoke": {
      if (!arg || !ObjectId.isValid(arg))
        throw new AdminError("name the invite by the id `invite list` shows");
      if (!(await revokeInvite(deps, new ObjectId(arg)))) throw new AdminError(`no live invite ${arg}`);
      return done("invite revoke", { id: arg, revoked: true }, arg);
    }
    case "users list":
      return done("users list", { users: (await listUsers(deps, o.search, limit)).map(userRow) }, null, {
        search: o.search ?? null,
      });
    case "users show": {
      const user = await who(deps, arg);
      const [devices, sessions, conversations] = await Promise.all([
        listDevices(deps, user._id),
        listSessions(deps, user._id),
        countMemberships(deps, user._id),
      ]);
      return done(
        "users show",
        {
          user: {
            ...userRow(user),
            suspended_at: user.suspended_at ? iso(user.suspended_at) : null,
            suspend_reason: user.suspend_reason ?? null,
          },
          devices: devices.map((d) => ({
            device_id: d.device_id,
            device_name: d.device_name,
            created_at: iso(d.created_at),
            last_seen_at: iso(d.last_seen_at),
          })),
          counts: { sessions: sessions.length, conversations },
        },
        user._id.toHexString(),
      );
    }
    case "users suspend": {
      const user = await who(deps, arg);
      const reason = (o.reason ?? "").slice(0, 500);
      await setSuspended(deps, user._id, reason);
      const cut = await suspendSessions(deps, user._id);
      return done(
        "users suspend",
        { id: user._id.toHexString(), status: "suspended", sessions_cut: cut },
        user._id.toHexString(),
        { reason },
      );
    }
    case "users unsuspend": {
      const user = await who(deps, arg);
      await setSuspended(deps, user._id, null);
      await endSuspendedSessions(deps, user._id);
      return done(
        "users unsuspend",
        { id: user._id.toHexString(), status: "active" },
        user._id.toHexString(),
      );
    }
    case "users delete": {
      const user = await who(deps, arg);
      await deleteAccount(deps, user._id);
      return done("users delete", { id: user._id.toHexString(), deleted: true }, user._id.toHexString());
    }
    case "backup": {
      if (!files || !verb) throw new AdminError("name the file to write: backup <file>");
      const written = await files.backup(verb);
      return done("backup", written, null, { bytes: written.bytes });
    }
    case "restore": {
      if (!files?.restored) throw new AdminError("name the backup to restore: restore <file>");
      return done("restore", files.restored, null, { bytes: files.restored.bytes });
    }
    case "stats":
      return done("stats", await stats(deps));
    case "audit":
      return done("audit", {
        entries: (await recent(deps, limit)).map((e) => ({
          at: iso(e.at),
          actor: e.actor,
          action: e.action,
          target: e.target,
          details: e.details,
        })),
      });
    default:
      throw new AdminError(`unknown command "${p.join(" ")}"; run with --help`);
  }
}

/** Chunks are at most this big: attachment bytes are bounded from the chunk count alone. */
const CHUNK_BYTES = 255 * 1024;

/**
 * Whole-collection counts are the store's own metadata count (no scan); suspended accounts and
 * pending expiry are counts over an index range, proportional to what they count.
 */
async function stats(deps: Deps) {
  const db = deps.store.db;
  const count = (name: string) => db.collection(name).estimatedDocumentCount();
  const now = deps.clock.now();
  const [total, suspended, devices, conversations, messages, keys, chunks] = await Promise.all([
    count("users"),
    countSuspended(deps),
    count("devices"),
    count("conversations"),
    count("messages"),
    count("message_keys"),
    count("attachment_chunks"),
  ]);
  const pending: Record<string, number> = {};
  for (const c of deps.inventory.filter((c) => c.expires)) {
    pending[c.name] = await c.col(db).countDocuments({ expires_at: { $lte: now } });
  }
  return {
    accounts: { total, active: total - suspended, suspended },
    devices,
    conversations,
    messages,
    wrapped_keys: keys,
    attachment_bytes_at_most: chunks * CHUNK_BYTES,
    pending_expiry: pending,
  };
}
