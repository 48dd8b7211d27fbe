import type { ObjectId } from "mongodb";
import { newId } from "../db/ids.js";
import { never, owned } from "../db/owned.js";
import type { Deps } from "../deps.js";

export interface AuditDoc {
  _id: ObjectId;
  at: Date;
  /** Who ran the command: the operating-system user and host, as the command found them. */
  actor: string;
  /** The command, e.g. `users suspend`. */
  action: string;
  /** What it acted on: an account or invite id, never an email or a code. */
  target: string | null;
  /** The options given (a suspension's reason, an invite's uses); never content or keys. */
  details: Record<string, string | number | null>;
}
export const adminAudit = owned<AuditDoc>({
  name: "admin_audit",
  owner: "admin",
  holds:
    "one operator command (`npm run admin`): who ran it (OS user@host), what, when, the account or invite id it acted on and its options; never content, keys, emails or invite codes",
  indexes: [],
  ...never,
  onAccountDeletion: "kept: entries name the account by its id only, which no longer leads anywhere",
  eraseAccount: async () => {},
});
const col = (deps: Deps) => adminAudit.col(deps.store.db);

export async function record(deps: Deps, entry: Omit<AuditDoc, "_id" | "at">) {
  await col(deps).insertOne({ _id: newId(), at: deps.clock.now(), ...entry });
}

/** The newest `limit` entries, newest first (ids grow with time). */
export const recent = (deps: Deps, limit: number) =>
  col(deps).find({}).sort({ _id: -1 }).limit(limit).toArray();
