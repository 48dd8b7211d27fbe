import { MongoBulkWriteError, type ObjectId } from "mongodb";
import { isDuplicateKey } from "../db/ids.js";
import { lapsedLeases, takeLease } from "../db/lease.js";
import { owned } from "../db/owned.js";
import type { Deps } from "../deps.js";
import { addSeconds } from "../lib/clock.js";
import type { MarkDoc } from "./receipts.js";

/**
 * Which batch of the message expiry job erases a message: its `_id` is the message's, so the unique
 * `_id` lets exactly one insert in (on both stores), and the batch it names counts the message out
 * and announces it. Kept a day: far past any run that could still hold the message.
 */
export interface ErasureDoc {
  _id: ObjectId;
  /** When the batch took it. */
  at: Date;
  /** The batch (expiry_batches) that erases it; absent on claims made before batches were recorded. */
  batch?: ObjectId;
  expires_at: Date;
}
const KEEP_SECONDS = 86_400;

export const erasures = owned<ErasureDoc>({
  name: "message_erasures",
  owner: "messages",
  holds:
    "that one batch of the message expiry job took an expired message (its id, when, which batch): nothing else",
  indexes: [],
  expires: true,
  onExpiry: `erased ${KEEP_SECONDS / 3600} h after the expiry job took the message`,
  onAccountDeletion: "nothing: it names no account",
  eraseAccount: async () => {},
});

/** A message a batch erases, as much of it as counting it out and announcing it needs. */
export interface Erased {
  _id: ObjectId;
  conversation_id: ObjectId;
  seq: number;
  sender_id: ObjectId | null;
}

/**
 * One batch of the expiry job, recorded before it claims anything, so that any run can finish it
 * after the run that made it died: `candidates` are what it tried to claim; once claimed, `plan`
 * says what it takes out of which counter (computed once, then only applied).
 */
export interface ExpiryBatchDoc {
  _id: ObjectId;
  /** Who may work on it: past this, any run takes it over (a compare-and-set on this field). */
  lease_until: Date;
  candidates: ObjectId[];
  plan: {
    messages: Erased[];
    /** Per member of a conversation: messages from before they joined, and ones they had hidden. */
    tallies: { conversation_id: ObjectId; user_id: ObjectId; base: number; hidden: number }[];
    /** A mark per message and member who still had it unread: those that go in are its unreads. */
    claims: MarkDoc[];
  } | null;
  expires_at: Date;
}
export const batches = owned<ExpiryBatchDoc>({
  name: "expiry_batches",
  owner: "messages",
  holds:
    "one batch of the message expiry job while it runs (seconds): the ids of the messages it erases, " +
    "their conversations, positions and senders, and which member counters it takes them out of",
  indexes: [{ key: { lease_until: 1 } }],
  expires: true,
  onExpiry: `erased when the batch is done, or ${KEEP_SECONDS / 3600} h after it began`,
  onAccountDeletion: "nothing: a batch lasts seconds and erases the messages it names",
  eraseAccount: async () => {},
});
const col = (deps: Deps) => erasures.col(deps.store.db);
const batchCol = (deps: Deps) => batches.col(deps.store.db);

/** Records a new batch, held by this run for `leaseMs`. */
export async function newBatch(deps: Deps, id: ObjectId, candidates: ObjectId[], leaseMs: number) {
  const now = deps.clock.now();
  const doc: ExpiryBatchDoc = {
    _id: id,
    lease_until: new Date(now.getTime() + leaseMs),
    candidates,
    plan: null,
    expires_at: addSeconds(now, KEEP_SECONDS),
  };
  await batchCol(deps).insertOne(doc);
  return doc;
}

/**
 * Claims messages for a batch: one unordered insert of their ids. Returns the ids it won and, among
 * the others, the claims of other batches (or, for claims older than batches, their `at`).
 */
export async function claimErasures(deps: Deps, ids: ObjectId[], batch: ObjectId) {
  const now = deps.clock.now();
  const docs = ids.map((_id) => ({ _id, at: now, batch, expires_at: addSeconds(now, KEEP_SECONDS) }));
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
  // Few in practice (two processes racing, or a run that died).
  const taken = others.length
    ? await col(deps)
        .find({ _id: { $in: others } })
        .toArray()
    : [];
  return { won, taken };
}

/** The candidates of a batch that it did claim (read again by a run that takes the batch over). */
export async function claimedBy(deps: Deps, batch: ExpiryBatchDoc) {
  const docs = await col(deps)
    .find({ _id: { $in: batch.candidates } })
    .toArray();
  return docs.filter((d) => d.batch?.equals(batch._id)).map((d) => d._id);
}

/** Takes over a batch whose lease has passed: one taker wins the compare-and-set. */
export const takeBatch = (deps: Deps, batch: ExpiryBatchDoc, leaseMs: number) =>
  takeLease(batchCol(deps), batch, leaseMs, deps.clock.now());

/**
 * Sets the batch's plan, once: a run whose plan loses (another run planned the batch meanwhile)
 * gets the one that won, which every run then applies.
 */
export async function setPlan(deps: Deps, id: ObjectId, plan: NonNullable<ExpiryBatchDoc["plan"]>) {
  const { matchedCount } = await batchCol(deps).updateOne({ _id: id, plan: null }, { $set: { plan } });
  if (matchedCount) return plan;
  return (await batchCol(deps).findOne({ _id: id }))?.plan ?? null;
}

export const findBatch = (deps: Deps, id: ObjectId) => batchCol(deps).findOne({ _id: id });

/** Batches whose run died (or stalls) past its lease, oldest first. */
export const batchesDue = (deps: Deps, now: Date, limit: number) => lapsedLeases(batchCol(deps), now, limit);

export const dropBatch = (deps: Deps, id: ObjectId) => batchCol(deps).deleteOne({ _id: id });
