import { ObjectId } from "mongodb";
import { isDuplicateKey } from "../db/ids.js";
import { never, owned } from "../db/owned.js";
import type { Deps } from "../deps.js";
import { leaveAll } from "./leave.js";
import type { ConversationDoc } from "./repo.js";

export type Role = "admin" | "member";
/** One member's own state in one conversation: a document each, changed by atomic $inc and $set. */
export interface MemberDoc {
  _id: ObjectId;
  conversation_id: ObjectId;
  user_id: ObjectId;
  role: Role;
  joined_at: Date;
  /** The conversation's seq when they joined: they see only later messages (none were wrapped for them). */
  joined_seq: number;
  /** The conversation's message_count when they joined, so their `total` needs no count. */
  base_count: number;
  unread_count: number;
  /** Messages they deleted for themselves. */
  hidden_count: number;
  archived: boolean;
  last_activity_at: Date;
}
export const members = owned<MemberDoc>({
  name: "conversation_members",
  owner: "conversations",
  holds:
    "one member of one conversation: role, when they joined, their unread and hidden counts, " +
    "whether they archived it",
  indexes: [
    { key: { conversation_id: 1, user_id: 1 }, options: { unique: true } },
    { key: { conversation_id: 1, joined_at: 1, _id: 1 } },
    { key: { conversation_id: 1, role: 1 } },
    { key: { conversation_id: 1, joined_seq: 1, user_id: 1 } },
    { key: { user_id: 1, archived: 1, last_activity_at: -1, _id: -1 } },
  ],
  ...never,
  onAccountDeletion:
    "the account leaves every conversation as POST /leave does (an admin is promoted where needed); " +
    "a conversation nobody is left in is erased with all its messages",
  eraseAccount: (_col, a, deps) => leaveAll(deps, a._id),
});
const col = (deps: Deps) => members.col(deps.store.db);

export const findMember = (deps: Deps, conversationId: ObjectId, userId: ObjectId) =>
  col(deps).findOne({ conversation_id: conversationId, user_id: userId });

/** A conversation's members, longest-standing first. */
export const membersOf = (deps: Deps, conversationId: ObjectId) =>
  col(deps).find({ conversation_id: conversationId }).sort({ joined_at: 1, _id: 1 }).toArray();

/** Members of several conversations, grouped by conversation hex id; one query. */
export async function membersOfMany(deps: Deps, ids: ObjectId[]) {
  const found = ids.length
    ? await col(deps)
        .find({ conversation_id: { $in: ids } })
        .sort({ joined_at: 1, _id: 1 })
        .toArray()
    : [];
  const byConversation = new Map<string, MemberDoc[]>();
  for (const m of found) {
    const k = m.conversation_id.toHexString();
    byConversation.set(k, [...(byConversation.get(k) ?? []), m]);
  }
  return byConversation;
}

/** Every conversation the user is in; account deletion walks it. */
export const membershipsOf = (deps: Deps, userId: ObjectId) => col(deps).find({ user_id: userId }).toArray();

/** A member document as of `at`, the conversation as its seat was taken. */
export function newMember(deps: Deps, at: ConversationDoc, userId: ObjectId, role: Role): MemberDoc {
  const now = deps.clock.now();
  return {
    _id: new ObjectId(),
    conversation_id: at._id,
    user_id: userId,
    role,
    joined_at: now,
    joined_seq: at.seq,
    base_count: at.message_count,
    unread_count: 0,
    hidden_count: 0,
    archived: false,
    last_activity_at: now,
  };
}

/** Inserts a member; false when they already are one (the unique index decides). */
export async function insertMember(deps: Deps, doc: MemberDoc) {
  try {
    await col(deps).insertOne(doc);
    return true;
  } catch (err) {
    if (isDuplicateKey(err)) return false;
    throw err;
  }
}

/** Both sides of a 1:1 conversation, idempotently: whoever loses the create race fills in too. */
export async function ensureDirectMembers(deps: Deps, conversation: ConversationDoc, ids: ObjectId[]) {
  for (const id of ids) await insertMember(deps, newMember(deps, conversation, id, "member"));
}

export async function insertMembers(deps: Deps, docs: MemberDoc[]) {
  await col(deps).insertMany(docs, { ordered: true });
}

export async function removeMember(deps: Deps, conversationId: ObjectId, userId: ObjectId) {
  const { deletedCount } = await col(deps).deleteOne({ conversation_id: conversationId, user_id: userId });
  return deletedCount === 1;
}

export const eraseMembersOf = (deps: Deps, conversationId: ObjectId) =>
  col(deps).deleteMany({ conversation_id: conversationId });

export const setRole = (deps: Deps, id: ObjectId, role: Role) =>
  col(deps).updateOne({ _id: id }, { $set: { role } });

export const countAdmins = (deps: Deps, conversationId: ObjectId) =>
  col(deps).countDocuments({ conversation_id: conversationId, role: "admin" }, { limit: 1 });

export const longestStanding = (deps: Deps, conversationId: ObjectId) =>
  col(deps).findOne({ conversation_id: conversationId }, { sort: { joined_at: 1, _id: 1 } });

export const setArchived = (deps: Deps, conversationId: ObjectId, userId: ObjectId, archived: boolean) =>
  col(deps).updateOne({ conversation_id: conversationId, user_id: userId }, { $set: { archived } });

/** A page of the user's conversations that are not archived, newest activity first. */
export async function listMemberships(deps: Deps, userId: ObjectId, limit: number, skip: number) {
  const filter = { user_id: userId, archived: false };
  const [docs, total] = await Promise.all([
    col(deps).find(filter).sort({ last_activity_at: -1, _id: -1 }).skip(skip).limit(limit).toArray(),
    col(deps).countDocuments(filter),
  ]);
  return { docs, total };
}

/**
 * A new message at `seq`: one more unread for every member but the sender who sees it (joined
 * before it), and the conversation back in everyone's list (a new message un-archives it). A
 * member document counts a message exactly when it can see it, and a message stops counting once
 * per member (consumeUnread), so the count is exact whatever the interleaving. Runs before the
 * message is stored, so no read of it can come before its unread is counted; `by: -1` undoes it.
 */
export async function countNewMessage(
  deps: Deps,
  conversationId: ObjectId,
  sender: ObjectId,
  seq: number,
  by: 1 | -1 = 1,
) {
  const now = deps.clock.now();
  const reopen = by === 1 ? { $max: { last_activity_at: now }, $set: { archived: false } } : {};
  await col(deps).updateMany(
    { conversation_id: conversationId, joined_seq: { $lt: seq }, user_id: { $ne: sender } },
    { $inc: { unread_count: by }, ...reopen },
  );
  if (by === 1) await col(deps).updateOne({ conversation_id: conversationId, user_id: sender }, reopen);
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

export const countHidden = (deps: Deps, conversationId: ObjectId, userId: ObjectId) =>
  col(deps).updateOne({ conversation_id: conversationId, user_id: userId }, { $inc: { hidden_count: 1 } });
