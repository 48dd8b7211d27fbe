import type { Collection } from "mongodb";
import { isDuplicateKey } from "../db/ids.js";
import { owned } from "../db/owned.js";

/**
 * One document a claimed slot: rate-limit hits, OTP attempts and single-use markers. The counted
 * key (an IP, an email, a session) is only ever stored as a hash or an opaque id.
 */
export interface SlotDoc {
  _id: string;
  key: string;
  expires_at: Date;
}
export const slots = owned<SlotDoc>({
  name: "slots",
  owner: "limits",
  holds: "one counted hit of a rate limit, OTP attempt or single-use marker, keyed by a hash",
  indexes: [{ key: { key: 1 } }],
  expires: true,
  onExpiry: "erased when its window ends",
  onAccountDeletion: "nothing to erase by account: keys are hashes; all expire within their window",
  eraseAccount: async () => {},
});

/**
 * Claims the next of `limit` numbered slots under `key` by inserting `key#n`; the unique _id makes
 * each slot go to exactly one caller, on MongoDB and FerretDB alike. Returns the slot number, or
 * null when all are taken. Counting first keeps this to one or two round trips in the usual case.
 */
export async function claimSlot(
  col: Collection<SlotDoc>,
  key: string,
  limit: number,
  expiresAt: Date,
): Promise<number | null> {
  const taken = await col.countDocuments({ key });
  for (let n = taken + 1; n <= limit; n++) {
    try {
      await col.insertOne({ _id: `${key}#${n}`, key, expires_at: expiresAt });
      return n;
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
    }
  }
  return null;
}

/** A single-use marker: true for the one caller that sets it first. */
export const claimOnce = async (col: Collection<SlotDoc>, key: string, expiresAt: Date) =>
  (await claimSlot(col, key, 1, expiresAt)) === 1;
