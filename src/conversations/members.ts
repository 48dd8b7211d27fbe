import type { ObjectId } from "mongodb";
import { type ConversationReason, devicesOf, recordChange } from "../changes/record.js";
import { isDuplicateKey, newId } from "../db/ids.js";
import { eraseConversation, eraseMembership, never, owned } from "../db/owned.js";
import type { Deps } from "../deps.js";
import { type ConversationDoc, findConversation, releaseSeat, retirePairKey } from "./repo.js";

export type Role = "admin" | "member";
/** One member's own state in one conversation: a document each, changed by atomic $inc and $set. */
export interface MemberDoc {
  _id: ObjectId;
  conversation_id: ObjectId;
  user_id: ObjectId;
  role: Role;
  joined_at: Date;
  /** Order of joining (the conversation's `joins` when their seat was taken): lowest is longest-standing. */
  rank: number;
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
export const members = owned<MemberDoc, Deps>({
  name: "conversation_members",
  owner: "conversations",
  holds:
    "one member of one conversation: role, when they joined, their unread and hidden counts, " +
    "whether they archived it",
  indexes: [
    { key: { conversation_id: 1, user_id: 1 }, options: { unique: true } },
    { key: { conversation_id: 1, rank: 1 } },
    { key: { conversation_id: 1, role: 1 } },
    { key: { conversation_id: 1, joined_seq: 1, user_id: 1 } },
    { key: { user_id: 1, archived: 1, last_activity_at: -1, _id: -1 } },
  ],
  ...never,
  onAccountDeletion:
    "the account leaves every conversation as POST /leave does (an admin is promoted where needed); " +
    "a conversation nobody is left in is erased with all its messages",
  eraseAccount: (_col, a, deps) => leaveAll(deps, a._id),
  eraseConversation: (col, id) => col.deleteMany({ conversation_id: id }),
});
const col = (deps: Deps) => members.col(deps.store.db);

export const findMember = (deps: Deps, conversationId: ObjectId, userId: ObjectId) =>
  col(deps).findOne({ conversation_id: conversationId, user_id: userId });

/** A conversation's members, longest-standing first. */
export const membersOf = (deps: Deps, conversationId: ObjectId) =>
  col(deps).find({ conversation_id: conversationId }).sort({ rank: 1 }).toArray();

/** Everyone who shares a conversation with the user, the user left out; two queries. */
export async function coMembersOf(deps: Deps, userId: ObjectId): Promise<ObjectId[]> {
  const mine = await col(deps)
    .find({ user_id: userId }, { projection: { conversation_id: 1 } })
    .toArray();
  if (!mine.length) return [];
  const all = await col(deps)
    .find({ conversation_id: { $in: mine.map((m) => m.conversation_id) } }, { projection: { user_id: 1 } })
    .toArray();
  const seen = new Map(all.map((m) => [m.user_id.toHexString(), m.user_id]));
  seen.delete(userId.toHexString());
  return [...seen.values()];
}

/** Members of several conversations, grouped by conversation hex id; one query. */
export async function membersOfMany(deps: Deps, ids: ObjectId[]) {
  const found = ids.length
    ? await col(deps)
        .find({ conversation_id: { $in: ids } })
        .sort({ rank: 1 })
        .toArray()
    : [];
  const byConversation = new Map<string, MemberDoc[]>();
  for (const m of found) {
    const k = m.conversation_id.toHexString();
    byConversation.set(k, [...(byConversation.get(k) ?? []), m]);
  }
  return byConversation;
}

/** A member document as of `at`, the conversation as their seat was taken (`rank`: see MemberDoc). */
export function newMember(
  deps: Deps,
  at: ConversationDoc,
  userId: ObjectId,
  role: Role,
  rank: number,
): MemberDoc {
  const now = deps.clock.now();
  return {
    _id: newId(),
    conversation_id: at._id,
    user_id: userId,
    role,
    joined_at: now,
    rank,
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
  const sorted = [...ids].sort((a, b) => a.toHexString().localeCompare(b.toHexString()));
  for (const [rank, id] of sorted.entries()) {
    await insertMember(deps, newMember(deps, conversation, id, "member", rank));
  }
}

export const insertMembers = (deps: Deps, docs: MemberDoc[]) => col(deps).insertMany(docs, { ordered: true });

export const setRole = (deps: Deps, id: ObjectId, role: Role) =>
  col(deps).updateOne({ _id: id }, { $set: { role } });

/**
 * A group never stays without an admin: the longest-standing member is promoted. Every departure
 * runs this after its own removal, so racing departures (the promoted member leaving too) end
 * with an admin whenever anyone is left.
 */
async function ensureAdmin(deps: Deps, id: ObjectId) {
  for (;;) {
    if ((await col(deps).countDocuments({ conversation_id: id, role: "admin" }, { limit: 1 })) > 0) return;
    const first = await col(deps).findOne({ conversation_id: id }, { sort: { rank: 1 } });
    if (!first) return;
    await setRole(deps, first._id, "admin");
  }
}

/**
 * Makes an admin a plain member, unless they are the group's last admin (false then). Racing
 * step-downs are repaired as departures are: the group is left with an admin either way.
 */
export async function demote(deps: Deps, conversationId: ObjectId, member: MemberDoc) {
  const admins = await col(deps).countDocuments(
    { conversation_id: conversationId, role: "admin" },
    { limit: 2 },
  );
  if (admins < 2) return false;
  await col(deps).updateOne({ _id: member._id, role: "admin" }, { $set: { role: "member" } });
  await ensureAdmin(deps, conversationId);
  return true;
}

/**
 * Takes `userId` out of a conversation, with what only they could use there (wrapped keys, marks;
 * see eraseMembership in the inventory). The last one out erases the conversation and all its
 * messages. False when they were not in it.
 */
export async function depart(
  deps: Deps,
  conversation: ConversationDoc,
  userId: ObjectId,
  reason: Extract<ConversationReason, "member_left" | "member_removed">,
  tellLeaver = true,
) {
  const id = conversation._id;
  const { deletedCount } = await col(deps).deleteOne({ conversation_id: id, user_id: userId });
  if (deletedCount !== 1) return false;
  await eraseMembership(deps, id, userId);
  const left = await releaseSeat(deps, id);
  if (left <= 0) await eraseConversation(deps, id);
  else if (conversation.kind === "group") await ensureAdmin(deps, id);
  else await retirePairKey(deps, id); // only an account deletion takes someone out of a 1:1
  const remaining = left > 0 ? (await membersOf(deps, id)).map((m) => m.user_id) : [];
  await recordChange(deps, {
    type: "conversation_updated",
    conversation_id: id,
    reason: left > 0 ? reason : "deleted",
    user_id: userId,
    targets: await devicesOf(deps, tellLeaver ? [...remaining, userId] : remaining),
  });
  return true;
}

/** Account deletion: the account leaves every conversation it is in. */
async function leaveAll(deps: Deps, userId: ObjectId) {
  for (const m of await col(deps).find({ user_id: userId }).toArray()) {
    const conversation = await findConversation(deps, m.conversation_id);
    if (conversation) await depart(deps, conversation, userId, "member_left", false);
    else await col(deps).deleteOne({ _id: m._id });
  }
}
