import type { ObjectId } from "mongodb";
import { isDuplicateKey } from "../db/ids.js";
import { lapsedLeases, takeLease } from "../db/lease.js";
import { owned } from "../db/owned.js";
import type { Deps } from "../deps.js";
import { addSeconds } from "../lib/clock.js";
import type { WrappedKey } from "./keys.js";
import type { MessageDoc } from "./repo.js";

/** How long a client_message_id makes a retry return the first message instead of a second one. */
export const RETRY_WINDOW_SECONDS = 86_400;
/**
 * How long the process working on a send holds it: past that, a retry or the recovery sweep on any
 * process takes the send over and finishes it. Renewed when the send takes its position.
 */
export const SEND_LEASE_MS = 15_000;

/** What a send decided before it wrote anything: enough for any process to finish it. */
export interface SendOp {
  /** The message as it will be stored, less its position. */
  message: Omit<MessageDoc, "seq">;
  keys: WrappedKey[];
  attachment_ids: ObjectId[];
  /** The position, once taken (recorded so that a resumed send does not take a second one). */
  seq: number | null;
}

/**
 * One send: `_id` is `<sender hex id>:<client_message_id>`, so the unique _id lets exactly one send
 * claim an id; a send without one is recorded under `<sender>:~<message id>` (`~` is not allowed
 * in a client_message_id). Inserted with `op` before the send writes anything else; `op` and the
 * lease go once the send is complete (a send without a client_message_id is then deleted).
 */
export interface ClientIdDoc {
  _id: string;
  sender_id: ObjectId;
  message_id: ObjectId;
  expires_at: Date;
  /** Until the send is complete: what it decided (ciphertext and wrapped keys included). */
  op?: SendOp;
  /** Until the send is complete: who may work on it (the process that holds the lease). */
  lease_until?: Date;
}
export const clientIds = owned<ClientIdDoc>({
  name: "client_message_ids",
  owner: "messages",
  holds:
    "a sender's client_message_id and the message it produced, so a retry returns that message; " +
    "while a send is unfinished (seconds, or until a crashed one is finished by another process), " +
    "what it decided: the message's ciphertext and wrapped keys, its attachments and position",
  indexes: [{ key: { sender_id: 1 } }, { key: { lease_until: 1 } }],
  expires: true,
  onExpiry: `erased ${RETRY_WINDOW_SECONDS / 3600} h after the send (a send's own record, at once once complete)`,
  onAccountDeletion: "erased",
  eraseAccount: (col, a) => col.deleteMany({ sender_id: a._id }),
});
const col = (deps: Deps) => clientIds.col(deps.store.db);
const sendKey = (sender: ObjectId, clientId: string | undefined, messageId: ObjectId) =>
  `${sender.toHexString()}:${clientId ?? `~${messageId.toHexString()}`}`;

/** The record of a send with this id, if its claim is still live (within the retry window). */
export async function findSend(deps: Deps, sender: ObjectId, clientId: string | undefined) {
  if (!clientId) return null; // a send without an id is never a retry
  const doc = await col(deps).findOne({ _id: `${sender.toHexString()}:${clientId}` });
  return doc && doc.expires_at > deps.clock.now() ? doc : null;
}

/**
 * Records a send before it writes anything: its claim of the client_message_id and everything it
 * decided, in one insert, held by this process for SEND_LEASE_MS. Null when another send holds
 * the id (the caller finishes or returns that one). An expired claim the sweeper has not reached
 * yet is no claim: it goes (only if still expired, so a live one is never taken) and the insert is
 * tried again.
 */
export async function recordSend(deps: Deps, doc: ClientIdDoc): Promise<ClientIdDoc | null> {
  const now = deps.clock.now();
  const claim = () =>
    col(deps)
      .insertOne(doc)
      .then(
        () => true,
        (err) => {
          if (isDuplicateKey(err)) return false;
          throw err;
        },
      );
  if (await claim()) return doc;
  const { deletedCount } = await col(deps).deleteOne({ _id: doc._id, expires_at: { $lte: now } });
  return deletedCount && (await claim()) ? doc : null;
}

export function newSendDoc(
  deps: Deps,
  sender: ObjectId,
  clientId: string | undefined,
  op: SendOp,
): ClientIdDoc {
  const now = deps.clock.now();
  return {
    _id: sendKey(sender, clientId, op.message._id),
    sender_id: sender,
    message_id: op.message._id,
    expires_at: addSeconds(now, RETRY_WINDOW_SECONDS),
    op,
    lease_until: new Date(now.getTime() + SEND_LEASE_MS),
  };
}

/**
 * Takes over an unfinished send whose holder's lease has passed (it died, or stalls): a
 * compare-and-set on the lease, so one taker wins. Returns the record as taken, or null.
 */
export const takeOver = (deps: Deps, doc: ClientIdDoc) =>
  doc.op ? takeLease(col(deps), doc, SEND_LEASE_MS, deps.clock.now()) : null;

/** The send took its position: recorded, and the lease renewed with it. */
export async function recordSeq(deps: Deps, key: string, seq: number) {
  const until = new Date(deps.clock.now().getTime() + SEND_LEASE_MS);
  await col(deps).updateOne(
    { _id: key, op: { $exists: true } },
    { $set: { "op.seq": seq, lease_until: until } },
  );
}

/** Re-reads a send's record by its key (a waiting retry polls it). */
export const sendRecord = (deps: Deps, key: string) => col(deps).findOne({ _id: key });

/**
 * The send is complete: its decision (ciphertext and keys) is erased from the record; what stays
 * is the claim a retry needs, or nothing for a send without a client_message_id.
 */
export async function completeRecord(deps: Deps, doc: ClientIdDoc) {
  if (doc._id.includes(":~")) await col(deps).deleteOne({ _id: doc._id });
  else await col(deps).updateOne({ _id: doc._id }, { $unset: { op: "", lease_until: "" } });
}

/** The send was refused half way (its attachments): the id is free again for a retry. */
export const dropRecord = (deps: Deps, doc: ClientIdDoc) =>
  col(deps).deleteOne({ _id: doc._id, message_id: doc.message_id });

/** A send that failed here gives its lease back, so a retry finishes it at once rather than waiting. */
export const releaseLease = (deps: Deps, doc: ClientIdDoc) =>
  col(deps).updateOne(
    { _id: doc._id, lease_until: { $gt: deps.clock.now() }, op: { $exists: true } },
    { $set: { lease_until: deps.clock.now() } },
  );

/** Unfinished sends nobody holds: the recovery sweep's work, oldest lease first. */
export const abandonedSends = (deps: Deps, now: Date, limit: number) => lapsedLeases(col(deps), now, limit);
