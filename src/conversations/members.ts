import type { ObjectId } from "mongodb";
import { isDuplicateKey, newId } from "../db/ids.js";
import { eraseConversation, eraseMembership, never, owned } from "../db/owned.js";
import { type ConversationReason, devicesOf, recordChange } from "../delivery/deliver.js";
import type { Deps } from "../deps.js";
import type { Auth } from "../http/openapi.js";
import { beginOp, endOp, noteOp, type OpDoc } from "../recovery/ops.js";
import {
  type ConversationDoc,
  findConversation,
  leaveSeatOnce,
  retirePairKey,
  returnSeat,
  settleOp,
  takeSeatOnce,
} from "./repo.js";

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
  /**
   * Whether they may have deleted messages for themselves here: false for a new member, set true
   * before the first such mark is written (hideMessage), so that a history page reads a member's
   * marks only when there may be some. Absent on memberships from before it existed: read as true.
   */
  hides?: boolean;
  archived: boolean;
  last_activity_at: Date;
  /** The messages of sends under way that have counted themselves in unread_count here (countNewMessage). */
  pending_ops?: ObjectId[];
}
export const members = owned<MemberDoc, Deps>({
  name: "conversation_members",
  owner: "conversations",
  holds:
    "one member of one conversation: role, when they joined, their unread and hidden counts, " +
    "whether they ever deleted a message for themselves there, whether they archived it",
  indexes: [
    { key: { conversation_id: 1, user_id: 1 }, options: { unique: true } },
    { key: { conversation_id: 1, rank: 1 } },
    { key: { conversation_id: 1, role: 1 } },
    { key: { conversation_id: 1, joined_seq: 1, user_id: 1, pending_ops: 1 } },
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
/** How many conversations a user is in (the operator's `users show`). */
export const countMemberships = (deps: Deps, userId: ObjectId) =>
  col(deps).countDocuments({ user_id: userId });

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
    hides: false,
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

/** The steps of a departure and of an addition, by the names the crash tests kill a server at. */
export const DEPART_STEPS = ["depart.recorded", "depart.removed", "depart.seat", "depart.announced"] as const;
export const JOIN_STEPS = ["join.recorded", "join.seat", "join.member", "join.announced"] as const;

/**
 * Makes an admin a plain member, unless they are the group's last admin (false then). Racing
 * step-downs are repaired as departures are: the group is left with an admin either way.
 */
export async function demote(deps: Deps, conversationId: ObjectId, memberId: ObjectId) {
  const admins = await col(deps).countDocuments(
    { conversation_id: conversationId, role: "admin" },
    { limit: 2 },
  );
  if (admins < 2) return false;
  await col(deps).updateOne({ _id: memberId, role: "admin" }, { $set: { role: "member" } });
  await ensureAdmin(deps, conversationId);
  return true;
}

/**
 * Takes `userId` out of a conversation, with what only they could use there (wrapped keys, marks;
 * see eraseMembership in the inventory). The last one out erases the conversation and all its
 * messages. False when they were not in it. Recorded first (src/recovery/ops.ts): a departure cut
 * short is finished by the recovery sweep (finishDeparture), its seat given back once.
 */
export async function depart(
  deps: Deps,
  conversation: ConversationDoc,
  userId: ObjectId,
  reason: Extract<ConversationReason, "member_left" | "member_removed">,
  tellLeaver = true,
) {
  const key = `${conversation._id.toHexString()}:${userId.toHexString()}`;
  const data = {
    conversation_id: conversation._id,
    kind: conversation.kind,
    reason,
    tell_leaver: tellLeaver,
  };
  const op = await beginOp(deps, "depart", key, userId, data);
  // Another departure of theirs is under way: it is that one's to finish.
  if (!op) return false;
  await deps.checkpoint?.("depart.recorded");
  return finishDeparture(deps, op);
}

interface DepartData {
  conversation_id: ObjectId;
  kind: ConversationDoc["kind"];
  reason: Extract<ConversationReason, "member_left" | "member_removed">;
  tell_leaver: boolean;
  removed?: boolean;
}

/** The departure's steps, each harmless to run again. */
export async function finishDeparture(deps: Deps, op: OpDoc) {
  const d = op.data as unknown as DepartData;
  const id = d.conversation_id;
  const userId = op.user_id;
  if (!d.removed) {
    const { deletedCount } = await col(deps).deleteOne({ conversation_id: id, user_id: userId });
    if (deletedCount !== 1) {
      await endOp(deps, op);
      return false;
    }
    await noteOp(deps, op, { removed: true });
  }
  await deps.checkpoint?.("depart.removed");
  await eraseMembership(deps, id, userId);
  const left = (await leaveSeatOnce(deps, id, op._id)) ?? 0;
  await deps.checkpoint?.("depart.seat");
  if (left <= 0) await eraseConversation(deps, id);
  else if (d.kind === "group") await ensureAdmin(deps, id);
  else await retirePairKey(deps, id); // only an account deletion takes someone out of a 1:1
  const remaining = left > 0 ? (await membersOf(deps, id)).map((m) => m.user_id) : [];
  // A departure finished after a crash may be announced twice: conversation_updated means "read
  // the conversation again", which twice does no harm.
  await recordChange(deps, {
    type: "conversation_updated",
    conversation_id: id,
    reason: left > 0 ? d.reason : "deleted",
    user_id: userId,
    targets: await devicesOf(deps, d.tell_leaver ? [...remaining, userId] : remaining),
  });
  await deps.checkpoint?.("depart.announced");
  if (left > 0) await settleOp(deps, id, op._id);
  await endOp(deps, op);
  return true;
}

/**
 * Adds a member to a group: a seat (within MAX_GROUP), their member document, the change. Recorded
 * first, like a departure: one cut short is finished by the recovery sweep (finishJoin). "full"
 * when the group has no seat left, "member" when they already are one.
 */
export async function join(deps: Deps, conversationId: ObjectId, userId: ObjectId, by: Auth) {
  const key = `${conversationId.toHexString()}:${userId.toHexString()}`;
  // The member document's id is chosen now: a resumed addition tells its own insert from a membership
  // that was there before.
  const data = {
    conversation_id: conversationId,
    member_id: newId(),
    by_user: by.userId,
    by_device: by.deviceId,
  };
  const op = await beginOp(deps, "join", key, userId, data);
  if (!op) return "member" as const; // being added right now
  await deps.checkpoint?.("join.recorded");
  return finishJoin(deps, op);
}

interface JoinData {
  conversation_id: ObjectId;
  member_id: ObjectId;
  by_user: ObjectId;
  by_device: string;
}

/** The addition's steps, each harmless to run again. */
export async function finishJoin(deps: Deps, op: OpDoc): Promise<"joined" | "full" | "member"> {
  const d = op.data as unknown as JoinData;
  const id = d.conversation_id;
  const seat = (await takeSeatOnce(deps, id, op._id)) ?? (await findConversation(deps, id));
  if (!seat?.pending_ops?.some((o) => o === op._id)) {
    await endOp(deps, op);
    return "full"; // full, or gone
  }
  await deps.checkpoint?.("join.seat");
  const doc = { ...newMember(deps, seat, op.user_id, "member", seat.joins - 1), _id: d.member_id };
  // Already a member: theirs from before (the seat goes back), or ours from an earlier try.
  const ours =
    (await insertMember(deps, doc)) || (await findMember(deps, id, op.user_id))?._id.equals(d.member_id);
  if (!ours) {
    await returnSeat(deps, id, op._id);
    await endOp(deps, op);
    return "member";
  }
  await deps.checkpoint?.("join.member");
  const ids = (await membersOf(deps, id)).map((m) => m.user_id);
  await recordChange(deps, {
    type: "conversation_updated",
    conversation_id: id,
    reason: "member_added",
    user_id: op.user_id,
    targets: await devicesOf(deps, ids, { userId: d.by_user, deviceId: d.by_device }),
  });
  await deps.checkpoint?.("join.announced");
  await settleOp(deps, id, op._id);
  await endOp(deps, op);
  return "joined";
}

/** Account deletion: the account leaves every conversation it is in. */
async function leaveAll(deps: Deps, userId: ObjectId) {
  for (const m of await col(deps).find({ user_id: userId }).toArray()) {
    const conversation = await findConversation(deps, m.conversation_id);
    if (conversation) await depart(deps, conversation, userId, "member_left", false);
    else await col(deps).deleteOne({ _id: m._id });
  }
}
