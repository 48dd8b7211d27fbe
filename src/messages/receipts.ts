import { MongoBulkWriteError, type ObjectId } from "mongodb";
import { isDuplicateKey, newId } from "../db/ids.js";
import { never, owned } from "../db/owned.js";
import type { Deps } from "../deps.js";

/** Delivered to one device, or read by one user (device_id null). */
export interface ReceiptDoc {
  _id: ObjectId;
  message_id: ObjectId;
  conversation_id: ObjectId;
  kind: "delivered" | "read";
  user_id: ObjectId;
  device_id: string | null;
  at: Date;
}
export const receipts = owned<ReceiptDoc>({
  name: "receipts",
  owner: "messages",
  holds:
    "a delivery of a message to one device, or its reading by one user (only for readers whose " +
    "read_receipts setting is on)",
  indexes: [
    { key: { message_id: 1, kind: 1, user_id: 1, device_id: 1 }, options: { unique: true } },
    { key: { user_id: 1, device_id: 1 } },
    { key: { conversation_id: 1 } },
  ],
  ...never,
  onAccountDeletion: "erased: the account's deliveries and reads",
  eraseAccount: (col, a) => col.deleteMany({ user_id: a._id }),
  eraseDevice: (col, userId, deviceId) => col.deleteMany({ user_id: userId, device_id: deviceId }),
  eraseConversation: (col, id) => col.deleteMany({ conversation_id: id }),
});

/**
 * A message that no longer counts as unread for one member: read, deleted for them, or deleted
 * for everyone. Its insert is the claim that takes the unread back exactly once, however many
 * reads race; `hidden` says it is deleted for that member.
 */
export interface MarkDoc {
  _id: ObjectId;
  message_id: ObjectId;
  conversation_id: ObjectId;
  user_id: ObjectId;
  seq: number;
  hidden: boolean;
  at: Date;
}
export const marks = owned<MarkDoc>({
  name: "message_marks",
  owner: "messages",
  holds: "that one member has read a message, or deleted it for themselves",
  indexes: [
    { key: { message_id: 1, user_id: 1 }, options: { unique: true } },
    { key: { conversation_id: 1, user_id: 1, hidden: 1, seq: 1 } },
    { key: { user_id: 1 } },
  ],
  ...never,
  onAccountDeletion: "erased",
  eraseAccount: (col, a) => col.deleteMany({ user_id: a._id }),
  eraseConversation: (col, id) => col.deleteMany({ conversation_id: id }),
  eraseMembership: (col, id, userId) => col.deleteMany({ conversation_id: id, user_id: userId }),
});
const receiptCol = (deps: Deps) => receipts.col(deps.store.db);
const markCol = (deps: Deps) => marks.col(deps.store.db);

type Message = { _id: ObjectId; conversation_id: ObjectId; seq: number };

async function insertOnce<T extends { _id: ObjectId }>(insert: (doc: T) => Promise<unknown>, doc: T) {
  try {
    await insert(doc);
    return true;
  } catch (err) {
    if (isDuplicateKey(err)) return false;
    throw err;
  }
}

/** True for the one call that makes the message stop counting as unread for the user. */
export const markConsumed = (deps: Deps, m: Message, userId: ObjectId, hidden = false) =>
  insertOnce((d) => markCol(deps).insertOne(d), {
    _id: newId(),
    message_id: m._id,
    conversation_id: m.conversation_id,
    user_id: userId,
    seq: m.seq,
    hidden,
    at: deps.clock.now(),
  });

/** Hides an already consumed message; true for the call that hid it. */
export async function markHidden(deps: Deps, messageId: ObjectId, userId: ObjectId) {
  const { modifiedCount } = await markCol(deps).updateOne(
    { message_id: messageId, user_id: userId, hidden: false },
    { $set: { hidden: true } },
  );
  return modifiedCount === 1;
}

export async function isHidden(deps: Deps, messageId: ObjectId, userId: ObjectId) {
  const mark = await markCol(deps).findOne({ message_id: messageId, user_id: userId });
  return mark?.hidden === true;
}

/**
 * The `limit` positions nearest a position of a conversation, strictly within (above, below),
 * that the user deleted for themselves, nearest first: read alongside a page before its messages
 * are known (history.ts checks it reaches far enough).
 */
export async function hiddenNear(
  deps: Deps,
  conversationId: ObjectId,
  userId: ObjectId,
  range: { above: number; below: number },
  direction: 1 | -1,
  limit: number,
) {
  const found = await markCol(deps)
    .find(
      {
        conversation_id: conversationId,
        user_id: userId,
        hidden: true,
        seq: { $gt: range.above, $lt: range.below },
      },
      { projection: { seq: 1 } },
    )
    .sort({ seq: direction })
    .limit(limit)
    .toArray();
  return found.map((m) => m.seq);
}

/** Positions the user deleted for themselves within [lo, hi] of a conversation. */
export async function hiddenSeqs(
  deps: Deps,
  conversationId: ObjectId,
  userId: ObjectId,
  lo: number,
  hi: number,
) {
  const found = await markCol(deps)
    .find(
      { conversation_id: conversationId, user_id: userId, hidden: true, seq: { $gte: lo, $lte: hi } },
      { projection: { seq: 1 } },
    )
    .toArray();
  return new Set(found.map((m) => m.seq));
}

/** Records a receipt; true when it is new. */
export const addReceipt = (
  deps: Deps,
  m: Message,
  kind: ReceiptDoc["kind"],
  userId: ObjectId,
  deviceId: string | null,
) =>
  insertOnce((d) => receiptCol(deps).insertOne(d), {
    _id: newId(),
    message_id: m._id,
    conversation_id: m.conversation_id,
    kind,
    user_id: userId,
    device_id: deviceId,
    at: deps.clock.now(),
  });

/** Receipts of several messages, grouped by message hex id; one query. */
export async function receiptsFor(deps: Deps, messageIds: ObjectId[]) {
  const found = messageIds.length
    ? await receiptCol(deps)
        .find({ message_id: { $in: messageIds } })
        .toArray()
    : [];
  const byMessage = new Map<string, ReceiptDoc[]>();
  for (const r of found) {
    const k = r.message_id.toHexString();
    byMessage.set(k, [...(byMessage.get(k) ?? []), r]);
  }
  return byMessage;
}

/** The marks on several messages (the expiry job's count of who read or hid what). */
export const marksOf = (deps: Deps, messageIds: ObjectId[]) =>
  markCol(deps)
    .find({ message_id: { $in: messageIds } })
    .toArray();

/**
 * Inserts marks for the expiry job, each the same arbiter a read is: returns the ids of those that
 * went in (a racing read's mark got there first for the others).
 */
export async function claimMarks(deps: Deps, docs: MarkDoc[]) {
  const lost = new Set<number>();
  try {
    if (docs.length) await markCol(deps).insertMany(docs, { ordered: false });
  } catch (err) {
    if (!(err instanceof MongoBulkWriteError)) throw err;
    // Which inserts lost is in the error itself: no read back.
    for (const e of Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors]) {
      if (!isDuplicateKey(e)) throw err;
      lost.add(e.index);
    }
  }
  return new Set(docs.filter((_, i) => !lost.has(i)).map((d) => d._id.toHexString()));
}

/** Which of these marks exist (a resumed expiry batch: the claims it made before it died). */
export async function marksWithIds(deps: Deps, ids: ObjectId[]) {
  const found = ids.length
    ? await markCol(deps)
        .find({ _id: { $in: ids } }, { projection: { _id: 1 } })
        .toArray()
    : [];
  return new Set(found.map((d) => d._id.toHexString()));
}

export const eraseMarksOf = (deps: Deps, messageIds: ObjectId[]) =>
  markCol(deps).deleteMany({ message_id: { $in: messageIds } });

export const eraseReceiptsOf = (deps: Deps, messageIds: ObjectId[]) =>
  receiptCol(deps).deleteMany({ message_id: { $in: messageIds } });
