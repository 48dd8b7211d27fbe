import type { ObjectId } from "mongodb";
import type { Deps } from "../deps.js";
import { members } from "./members.js";

/*
 * Each member's unread and hidden counts and list position, kept by atomic $inc/$max/$set on their
 * own member document: never recomputed by counting messages.
 */
const col = (deps: Deps) => members.col(deps.store.db);

/** Later than any date a membership holds (the largest a JavaScript Date can). */
const END_OF_TIME = new Date(8.64e15);

/**
 * A page of the user's conversations that are not archived, newest activity first. The page's bound
 * on `last_activity_at` (every membership has one) lets the local store answer the sort and limit
 * from its index: it orders in SQLite only by a key the filter bounds (docs/stores.md, "Sort and
 * limit"); on MongoDB it is the same index scan.
 */
export async function listMemberships(deps: Deps, userId: ObjectId, limit: number, skip: number) {
  const filter = { user_id: userId, archived: false };
  const page = { ...filter, last_activity_at: { $lte: END_OF_TIME } };
  const [docs, total] = await Promise.all([
    col(deps).find(page).sort({ last_activity_at: -1, _id: -1 }).skip(skip).limit(limit).toArray(),
    col(deps).countDocuments(filter),
  ]);
  return { docs, total };
}

export const setArchived = (deps: Deps, conversationId: ObjectId, userId: ObjectId, archived: boolean) =>
  col(deps).updateOne({ conversation_id: conversationId, user_id: userId }, { $set: { archived } });

/**
 * A new message at `seq`: one more unread for every member but the sender who sees it (joined
 * before it), and the conversation back in everyone's list (a new message un-archives it). A
 * member document counts a message exactly when it can see it, and a message stops counting once
 * per member (consumeUnread), so the count is exact whatever the interleaving. Runs before the
 * message is stored, so no read of it can come before its unread is counted. Each member counts
 * the message once however often this runs: its id goes into `pending_ops` with the count, and a
 * document that has it is skipped (a resumed send runs this again: src/messages/send-steps.ts).
 */
export async function countNewMessage(
  deps: Deps,
  conversationId: ObjectId,
  sender: ObjectId,
  seq: number,
  messageId: ObjectId,
) {
  const now = deps.clock.now();
  const reopen = { $max: { last_activity_at: now }, $set: { archived: false } };
  // Disjoint documents (the others', the sender's): neither write waits for the other.
  await Promise.all([
    col(deps).updateMany(
      {
        conversation_id: conversationId,
        joined_seq: { $lt: seq },
        user_id: { $ne: sender },
        pending_ops: { $ne: messageId },
      },
      { $inc: { unread_count: 1 }, $push: { pending_ops: messageId }, ...reopen },
    ),
    col(deps).updateOne({ conversation_id: conversationId, user_id: sender }, reopen),
  ]);
}

/**
 * The message is complete: it leaves every member's `pending_ops`. With `uncount` (its send was
 * refused after counting) the unread it added goes too, in the same update, so that also happens once.
 */
export async function settleCount(
  deps: Deps,
  conversationId: ObjectId,
  sender: ObjectId,
  seq: number,
  messageId: ObjectId,
  uncount = false,
) {
  // The members countNewMessage looked at, those it counted the message for.
  await col(deps).updateMany(
    {
      conversation_id: conversationId,
      joined_seq: { $lt: seq },
      user_id: { $ne: sender },
      pending_ops: { $elemMatch: { $eq: messageId } },
    },
    { $pull: { pending_ops: messageId }, ...(uncount ? { $inc: { unread_count: -1 } } : {}) },
  );
}

/** Members who see the message at `seq` (joined before it), but its sender. */
export async function audienceOf(deps: Deps, conversationId: ObjectId, sender: ObjectId | null, seq: number) {
  const seeing = await col(deps)
    .find({ conversation_id: conversationId, joined_seq: { $lt: seq } })
    .toArray();
  return seeing.filter((m) => !sender || !m.user_id.equals(sender));
}

/** One message less unread (read, hidden or deleted for everyone), exactly once per message and member. */
export const consumeUnread = (deps: Deps, conversationId: ObjectId, userId: ObjectId) =>
  col(deps).updateOne({ conversation_id: conversationId, user_id: userId }, { $inc: { unread_count: -1 } });

/** The member may have deleted messages for themselves from now on (MemberDoc.hides): before the mark. */
export const noteHides = (deps: Deps, conversationId: ObjectId, userId: ObjectId) =>
  col(deps).updateOne({ conversation_id: conversationId, user_id: userId }, { $set: { hides: true } });

export const countHidden = (deps: Deps, conversationId: ObjectId, userId: ObjectId) =>
  col(deps).updateOne({ conversation_id: conversationId, user_id: userId }, { $inc: { hidden_count: 1 } });

/**
 * Erased messages leave members' counters (those from before they joined, hidden and unread ones):
 * one write for all, each member's applied once for the batch however often this runs (the batch's
 * id goes into `pending_ops` with it; settleErased takes it out once the batch is done).
 */
export async function uncountErased(
  deps: Deps,
  batch: ObjectId,
  tallies: { conversation_id: ObjectId; user_id: ObjectId; base: number; hidden: number; unread: number }[],
) {
  const ops = tallies
    .filter((t) => t.base || t.hidden || t.unread)
    .map((t) => ({
      updateOne: {
        filter: { conversation_id: t.conversation_id, user_id: t.user_id, pending_ops: { $ne: batch } },
        update: {
          $inc: { base_count: -t.base, hidden_count: -t.hidden, unread_count: -t.unread },
          $push: { pending_ops: batch },
        },
      },
    }));
  if (ops.length) await col(deps).bulkWrite(ops, { ordered: false });
}

/** The batch is done: its id leaves these members' `pending_ops`. */
export async function settleErased(
  deps: Deps,
  batch: ObjectId,
  who: { conversation_id: ObjectId; user_id: ObjectId }[],
) {
  const ops = who.map((w) => ({
    updateOne: {
      filter: { conversation_id: w.conversation_id, user_id: w.user_id },
      update: { $pull: { pending_ops: batch } },
    },
  }));
  if (ops.length) await col(deps).bulkWrite(ops, { ordered: false });
}
