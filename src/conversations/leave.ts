import type { ObjectId } from "mongodb";
import type { Deps } from "../deps.js";
import { type ConversationReason, devicesOf, recordChange } from "../messages/changes.js";
import { eraseConversationKeys, eraseMemberKeys } from "../messages/keys.js";
import { eraseConversationReceipts, eraseMemberMarks } from "../messages/receipts.js";
import { eraseConversationMessages } from "../messages/repo.js";
import {
  countAdmins,
  eraseMembersOf,
  longestStanding,
  membershipsOf,
  membersOf,
  removeMember,
  setRole,
} from "./members.js";
import {
  type ConversationDoc,
  deleteConversation,
  findConversation,
  releaseSeat,
  retirePairKey,
} from "./repo.js";

/** A conversation nobody is in any more is erased for real: messages, keys, receipts, the document. */
async function eraseConversation(deps: Deps, id: ObjectId) {
  await eraseConversationKeys(deps, id);
  await eraseConversationReceipts(deps, id);
  await eraseConversationMessages(deps, id);
  await eraseMembersOf(deps, id);
  await deleteConversation(deps, id);
}

/**
 * A group never stays without an admin: the longest-standing member is promoted. Every departure
 * runs this after its own removal, so racing departures (the promoted member leaving too) end
 * with an admin whenever anyone is left.
 */
async function ensureAdmin(deps: Deps, id: ObjectId) {
  for (;;) {
    if ((await countAdmins(deps, id)) > 0) return;
    const first = await longestStanding(deps, id);
    if (!first) return;
    await setRole(deps, first._id, "admin");
  }
}

/**
 * Takes `userId` out of a conversation: their membership, and the wrapped keys and marks that only
 * they could use there. The last one out erases the conversation. False when they were not in it.
 */
export async function depart(
  deps: Deps,
  conversation: ConversationDoc,
  userId: ObjectId,
  reason: Extract<ConversationReason, "member_left" | "member_removed">,
  tellLeaver = true,
) {
  const id = conversation._id;
  if (!(await removeMember(deps, id, userId))) return false;
  await eraseMemberKeys(deps, id, userId);
  await eraseMemberMarks(deps, id, userId);
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
export async function leaveAll(deps: Deps, userId: ObjectId) {
  for (const m of await membershipsOf(deps, userId)) {
    const conversation = await findConversation(deps, m.conversation_id);
    if (conversation) await depart(deps, conversation, userId, "member_left", false);
    else await removeMember(deps, m.conversation_id, userId);
  }
}
