import type { ObjectId } from "mongodb";
import { isDuplicateKey, newId } from "../db/ids.js";
import { never, owned } from "../db/owned.js";
import type { Deps } from "../deps.js";

export type Kind = "one_to_one" | "group";
/** What a conversation list shows of its newest message; the preview is the client's ciphertext. */
export interface LastMessage {
  message_id: ObjectId;
  seq: number;
  encrypted_preview: string | null;
  timestamp: Date;
  sender_id: ObjectId | null;
  /** A disappearing message stops being shown here at once when this passes (before the job runs). */
  expires_at?: Date | null;
}
export interface ConversationDoc {
  _id: ObjectId;
  kind: Kind;
  /** Unique: the two user ids, sorted, for a 1:1 conversation; `group:<id>` for a group. */
  pair_key: string;
  name: string | null;
  picture_url: string | null;
  /** Position of the newest message; a send takes the next one together with message_count. */
  seq: number;
  /** Messages stored, tombstones included. Moves in the same update as seq, never by counting. */
  message_count: number;
  member_count: number;
  /** Seats ever taken: each member's `rank`, so "longest-standing" never depends on a clock tie. */
  joins: number;
  last_message: LastMessage | null;
  /** The disappearing-message timer for messages that set none (absent or null: none). */
  ttl_seconds?: number | null;
  /**
   * Writes under way that have counted themselves here, so that running them again counts nothing
   * twice: a send's message id (takeSeqOnce), an expiry batch's id (forgetMessages), a membership
   * operation's id (takeSeatOnce, leaveSeatOnce).
   */
  pending_ops?: (ObjectId | string)[];
  created_at: Date;
  updated_at: Date;
}
export const conversations = owned<ConversationDoc>({
  name: "conversations",
  owner: "conversations",
  holds:
    "a 1:1 conversation or a group: kind, group name and picture, message and member counters, and " +
    "its newest message's id, sender, time and client-encrypted preview",
  indexes: [{ key: { pair_key: 1 }, options: { unique: true } }, { key: { "last_message.sender_id": 1 } }],
  ...never,
  onAccountDeletion:
    "the account leaves each of its conversations first (see conversation_members); where it sent " +
    "the newest message, that message's sender becomes null (a deleted account)",
  eraseAccount: (col, a) =>
    col.updateMany({ "last_message.sender_id": a._id }, { $set: { "last_message.sender_id": null } }),
  eraseConversation: (col, id) => col.deleteOne({ _id: id }),
});
const col = (deps: Deps) => conversations.col(deps.store.db);

export const MIN_GROUP = 2;
export const MAX_GROUP = 50;

export const pairKey = (a: ObjectId, b: ObjectId) => [a.toHexString(), b.toHexString()].sort().join(":");

export const findConversation = (deps: Deps, id: ObjectId) => col(deps).findOne({ _id: id });

export const findConversations = async (deps: Deps, ids: ObjectId[]) => {
  const found = ids.length
    ? await col(deps)
        .find({ _id: { $in: ids } })
        .toArray()
    : [];
  return new Map(found.map((c) => [c._id.toHexString(), c]));
};

function newConversation(deps: Deps, kind: Kind, fields: Partial<ConversationDoc>): ConversationDoc {
  const now = deps.clock.now();
  const _id = fields._id ?? newId();
  return {
    _id,
    kind,
    pair_key: `group:${_id.toHexString()}`,
    name: null,
    picture_url: null,
    seq: 0,
    message_count: 0,
    member_count: 0,
    joins: 0,
    last_message: null,
    created_at: now,
    updated_at: now,
    ...fields,
  };
}

/**
 * The one 1:1 conversation of a pair. The unique pair_key makes the insert the arbiter: when both
 * people create it at the same moment, one insert wins and the other reads the winner's document.
 */
export async function createOrGetDirect(deps: Deps, a: ObjectId, b: ObjectId, _id = newId()) {
  const key = pairKey(a, b);
  const existing = await col(deps).findOne({ pair_key: key });
  if (existing) return { conversation: existing, created: false };
  const doc = newConversation(deps, "one_to_one", { _id, pair_key: key, member_count: 2, joins: 2 });
  try {
    await col(deps).insertOne(doc);
    return { conversation: doc, created: true };
  } catch (err) {
    if (!isDuplicateKey(err)) throw err;
    const winner = await col(deps).findOne({ pair_key: key });
    if (!winner) throw err;
    return { conversation: winner, created: false };
  }
}

/** A new group under an id chosen in advance; inserted once however often this runs (the stored one is returned). */
export async function insertGroup(
  deps: Deps,
  _id: ObjectId,
  name: string,
  picture: string | null,
  members: number,
) {
  const doc = newConversation(deps, "group", {
    _id,
    pair_key: `group:${_id.toHexString()}`,
    name,
    picture_url: picture,
    member_count: members,
    joins: members,
  });
  try {
    await col(deps).insertOne(doc);
    return doc;
  } catch (err) {
    const stored = isDuplicateKey(err) ? await findConversation(deps, _id) : null;
    if (!stored) throw err;
    return stored;
  }
}

export async function updateGroup(
  deps: Deps,
  id: ObjectId,
  set: { name?: string; picture_url?: string | null; ttl_seconds?: number | null },
) {
  await col(deps).updateOne({ _id: id }, { $set: { ...set, updated_at: deps.clock.now() } });
}

/**
 * Takes the next message position for one message, counted once however often it is asked: seq
 * and message_count move in one atomic update (so a member who joins reads a consistent pair, see
 * takeSeatOnce, and `total` never needs a count), together with the message's id going into
 * `pending_ops`, and an update that finds it already there counts nothing. That happens when an
 * earlier try took a position and died before recording it: the message then takes a new position
 * (uncounted), and the lost one stays a gap (seq increases but is not dense: docs/durability.md).
 * Null when the conversation is gone.
 */
export async function takeSeqOnce(deps: Deps, id: ObjectId, messageId: ObjectId) {
  const counted = await col(deps).findOneAndUpdate(
    { _id: id, pending_ops: { $ne: messageId } },
    { $inc: { seq: 1, message_count: 1 }, $push: { pending_ops: messageId } },
    { returnDocument: "after" },
  );
  if (counted) return counted.seq;
  const again = await col(deps).findOneAndUpdate(
    { _id: id, pending_ops: messageId },
    { $inc: { seq: 1 } },
    { returnDocument: "after" },
  );
  return again?.seq ?? null;
}

/** The message is complete (or its send refused): it leaves `pending_ops`; `uncount` takes its count back first. */
export async function settleSeq(deps: Deps, id: ObjectId, messageId: ObjectId, uncount = false) {
  await col(deps).updateOne(
    { _id: id, pending_ops: messageId },
    { $pull: { pending_ops: messageId }, ...(uncount ? { $inc: { message_count: -1 } } : {}) },
  );
}

/** Records the newest message, unless a later one (higher seq) got there first. */
export async function setLastMessage(deps: Deps, id: ObjectId, last: LastMessage) {
  await col(deps).updateOne(
    { _id: id, $or: [{ last_message: null }, { "last_message.seq": { $lt: last.seq } }] },
    { $set: { last_message: last, updated_at: last.timestamp } },
  );
}

/** An edit or a deletion of the newest message changes (or empties) its preview. */
export async function setLastPreview(deps: Deps, id: ObjectId, messageId: ObjectId, preview: string | null) {
  await col(deps).updateOne(
    { _id: id, "last_message.message_id": messageId },
    { $set: { "last_message.encrypted_preview": preview } },
  );
}

/**
 * Takes a seat in a group of at most MAX_GROUP for one operation: the conditional $inc cannot
 * overfill it, however many additions race, and the operation's id goes in with the seat, so
 * asking again takes nothing more. Returns the group as of the seat taken (its seq is where the
 * newcomer's history starts), or null when full, gone, or when the operation already has its seat.
 */
export const takeSeatOnce = (deps: Deps, id: ObjectId, op: string) =>
  col(deps).findOneAndUpdate(
    { _id: id, member_count: { $gte: 1, $lt: MAX_GROUP }, pending_ops: { $ne: op } },
    {
      $inc: { member_count: 1, joins: 1 },
      $set: { updated_at: deps.clock.now() },
      $push: { pending_ops: op },
    },
    { returnDocument: "after" },
  );

/** An operation's seat given back (its member turned out to be one already): once, and its id goes. */
export const returnSeat = (deps: Deps, id: ObjectId, op: string) =>
  col(deps).updateOne(
    { _id: id, pending_ops: op },
    { $inc: { member_count: -1 }, $pull: { pending_ops: op } },
  );

/**
 * A member left, once however often it is asked (the departure's id goes in with it); returns how
 * many members remain, or null when the conversation is gone.
 */
export async function leaveSeatOnce(deps: Deps, id: ObjectId, op: string) {
  const doc = await col(deps).findOneAndUpdate(
    { _id: id, pending_ops: { $ne: op } },
    { $inc: { member_count: -1 }, $set: { updated_at: deps.clock.now() }, $push: { pending_ops: op } },
    { returnDocument: "after" },
  );
  return (doc ?? (await findConversation(deps, id)))?.member_count ?? null;
}

/** The operation is finished: its id leaves the conversation's `pending_ops`. */
export const settleOp = (deps: Deps, id: ObjectId, op: string) =>
  col(deps).updateOne({ _id: id }, { $pull: { pending_ops: op } });

/** A 1:1 conversation whose other person deleted their account keeps no trace of their id. */
export const retirePairKey = (deps: Deps, id: ObjectId) =>
  col(deps).updateOne({ _id: id, kind: "one_to_one" }, { $set: { pair_key: `gone:${id.toHexString()}` } });

/**
 * Messages of the conversation were erased (expired): the count goes down by as many, once for
 * the batch however often this runs (its id goes into `pending_ops` with it, see settleSeq).
 */
export async function forgetMessages(deps: Deps, id: ObjectId, count: number, batch: ObjectId) {
  await col(deps).updateOne(
    { _id: id, pending_ops: { $ne: batch } },
    { $inc: { message_count: -count }, $push: { pending_ops: batch } },
  );
}

/** The newest message was erased: `replacement` (the newest one left, or null) takes its place. */
export async function replaceLastMessage(
  deps: Deps,
  id: ObjectId,
  erasedLast: ObjectId,
  replacement: LastMessage | null,
) {
  await col(deps).updateOne(
    { _id: id, "last_message.message_id": erasedLast },
    { $set: { last_message: replacement } },
  );
}

/** A batch of erasures is done: its id leaves these conversations' `pending_ops`. */
export async function settleForgotten(deps: Deps, ids: ObjectId[], batch: ObjectId) {
  if (ids.length) await col(deps).updateMany({ _id: { $in: ids } }, { $pull: { pending_ops: batch } });
}
