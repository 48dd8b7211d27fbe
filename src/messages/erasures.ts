import { MongoBulkWriteError, type ObjectId } from "mongodb";
import { isDuplicateKey } from "../db/ids.js";
import { owned } from "../db/owned.js";
import type { Deps } from "../deps.js";
import { addSeconds } from "../shared/clock.js";

/**
 * Which run of the message expiry job erases a message: its `_id` is the message's, so the unique
 * `_id` lets exactly one insert in (on both stores), and the run whose insert went in alone counts
 * the message out and announces it. Kept a day: far past any run that could still hold the message.
 */
export interface ErasureDoc {
  _id: ObjectId;
  /** When the winning run took it: past LEASE_MS, another run erases what is left. */
  at: Date;
  expires_at: Date;
}
const KEEP_SECONDS = 86_400;

export const erasures = owned<ErasureDoc>({
  name: "message_erasures",
  owner: "messages",
  holds: "that one run of the message expiry job took an expired message (its id and when): nothing else",
  indexes: [],
  expires: true,
  onExpiry: `erased ${KEEP_SECONDS / 3600} h after the expiry job took the message`,
  onAccountDeletion: "nothing: it names no account",
  eraseAccount: async () => {},
});
const col = (deps: Deps) => erasures.col(deps.store.db);

/**
 * Claims messages for one run: one unordered insert of their ids. Returns the ids this run won,
 * and, among the others, those whose claim is older than `leaseMs` (the run that took them died or
 * stalls: what is left of them may be erased, but they are neither counted nor announced again).
 */
export async function claimErasures(deps: Deps, ids: ObjectId[], leaseMs: number) {
  const now = deps.clock.now();
  const docs = ids.map((_id) => ({ _id, at: now, expires_at: addSeconds(now, KEEP_SECONDS) }));
  const lost = new Set<number>();
  try {
    if (docs.length) await col(deps).insertMany(docs, { ordered: false });
  } catch (err) {
    if (!(err instanceof MongoBulkWriteError)) throw err;
    for (const e of Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors]) {
      if (!isDuplicateKey(e)) throw err;
      lost.add(e.index);
    }
  }
  const won = ids.filter((_, i) => !lost.has(i));
  const others = ids.filter((_, i) => lost.has(i));
  // Few in practice (two processes racing, or a run that died): one `_id` read each.
  const claims = await Promise.all(others.map((_id) => col(deps).findOne({ _id })));
  const lapsed = claims
    .filter((c) => c !== null && c.at.getTime() + leaseMs <= now.getTime())
    .map((c) => c!._id);
  return { won, lapsed };
}
