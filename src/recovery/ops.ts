import type { ObjectId } from "mongodb";
import { isDuplicateKey } from "../db/ids.js";
import { lapsedLeases, takeLease } from "../db/lease.js";
import { owned } from "../db/owned.js";
import type { Deps } from "../deps.js";
import { addSeconds } from "../lib/clock.js";

/*
 * Multi-step writes that are not sends or expiry batches (those keep their own records:
 * client_message_ids, expiry_batches) record themselves here before they write: an edit, a
 * deletion for everyone, a view-once open, a departure or addition, a conversation's creation or
 * a change of its settings (src/conversations/settings.ts), an account's erasure, a device's approval. What the operation
 * decided goes in `data`; every step after is one its owner can run again without doing anything
 * twice; the record goes when the last step is done. An operation whose process died is taken
 * over by the recovery sweep (src/jobs/jobs.ts) once its lease has passed, and finished by the
 * owner's `resume` for its kind.
 */

/** How long the process working on an operation holds it before anyone may take it over. */
export const OP_LEASE_MS = 15_000;
const KEEP_SECONDS = 7 * 86_400;

export type OpKind =
  | "edit"
  | "delete"
  | "open"
  | "depart"
  | "join"
  | "create"
  | "setting"
  | "erase_account"
  | "link";

export interface OpDoc {
  /** `<kind>:<what it is about>`: one operation of a kind on one thing at a time. */
  _id: string;
  kind: OpKind;
  /** Whose operation it is (its data goes with their account, but for the account's own erasure). */
  user_id: ObjectId;
  lease_until: Date;
  /** What the operation decided before it wrote anything (an edit's ciphertext and keys, say). */
  data: Record<string, unknown>;
  created_at: Date;
  /** A backstop: an operation nobody could finish in a week is dropped. */
  expires_at: Date;
}
export const operations = owned<OpDoc>({
  name: "operations",
  owner: "recovery",
  holds:
    "a multi-step write under way (an edit, a deletion for everyone, a view-once open, a membership " +
    "change, a conversation's creation or new name, picture, timer or admin, an account's erasure, a device's approval): what it decided — for an edit its ciphertext and wrapped keys, for " +
    "an open the device's wrapped key — until it is finished (seconds, or until the recovery sweep " +
    "finishes one whose process died)",
  indexes: [{ key: { lease_until: 1 } }, { key: { user_id: 1, kind: 1 } }],
  expires: true,
  onExpiry: `erased when the operation is finished, or ${KEEP_SECONDS / 86_400} days after it began`,
  onAccountDeletion: "erased, but the record of the account's own erasure (until it is done)",
  eraseAccount: (col, a) => col.deleteMany({ user_id: a._id, kind: { $ne: "erase_account" } }),
});
const col = (deps: Deps) => operations.col(deps.store.db);

/**
 * Records an operation before it writes, held by this process for OP_LEASE_MS. Returns the record,
 * or null when one with this `_id` is already under way (the caller decides: wait, finish it, or refuse).
 */
export async function beginOp(
  deps: Deps,
  kind: OpKind,
  key: string,
  userId: ObjectId,
  data: Record<string, unknown>,
): Promise<OpDoc | null> {
  const now = deps.clock.now();
  const doc: OpDoc = {
    _id: `${kind}:${key}`,
    kind,
    user_id: userId,
    lease_until: new Date(now.getTime() + OP_LEASE_MS),
    data,
    created_at: now,
    expires_at: addSeconds(now, KEEP_SECONDS),
  };
  try {
    await col(deps).insertOne(doc);
    return doc;
  } catch (err) {
    if (isDuplicateKey(err)) return null;
    throw err;
  }
}

export const findOp = (deps: Deps, kind: OpKind, key: string) => col(deps).findOne({ _id: `${kind}:${key}` });

/** Adds to what an operation recorded (a step whose result the next ones need). */
export const noteOp = (deps: Deps, op: OpDoc, data: Record<string, unknown>) =>
  col(deps).updateOne(
    { _id: op._id },
    { $set: Object.fromEntries(Object.entries(data).map(([k, v]) => [`data.${k}`, v])) },
  );

/** The operation is finished: its record, and whatever it held, goes. */
export const endOp = (deps: Deps, op: Pick<OpDoc, "_id">) => col(deps).deleteOne({ _id: op._id });

/** Takes over an operation whose lease has passed: one taker wins the compare-and-set. */
export const takeOp = (deps: Deps, op: OpDoc) => takeLease(col(deps), op, OP_LEASE_MS, deps.clock.now());

/** Operations nobody holds (their process died or stalls), oldest lease first. */
export const abandonedOps = (deps: Deps, now: Date, limit: number) => lapsedLeases(col(deps), now, limit);
