import type { Collection, Document, Filter, UpdateFilter } from "mongodb";

/*
 * A record of a write under way is held by one process at a time for a while (`lease_until`):
 * past it, the process is taken for dead (or stalled) and anyone may take the record over and
 * finish the write (docs/durability.md). Sends, expiry batches and operations keep such records.
 */
type Leased = Document & { _id: unknown; lease_until?: Date };

/**
 * Takes over a record whose lease has passed, by a compare-and-set on the lease: of several takers
 * one wins. Returns the record as taken (its lease renewed for `ms`), or null.
 */
export async function takeLease<T extends Leased>(col: Collection<T>, doc: T, ms: number, now: Date) {
  if (!doc.lease_until || doc.lease_until > now) return null;
  const until = new Date(now.getTime() + ms);
  const { matchedCount } = await col.updateOne(
    { _id: doc._id, lease_until: doc.lease_until } as Filter<T>,
    { $set: { lease_until: until } } as UpdateFilter<T>,
  );
  return matchedCount ? { ...doc, lease_until: until } : null;
}

/** Records whose lease has passed, oldest first: what a recovery sweep takes over. */
export const lapsedLeases = <T extends Leased>(col: Collection<T>, now: Date, limit: number) =>
  col
    .find({ lease_until: { $lte: now } } as Filter<T>)
    .sort({ lease_until: 1 })
    .limit(limit)
    .toArray();
