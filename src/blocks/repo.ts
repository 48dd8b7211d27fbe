import { ObjectId } from "mongodb";
import { isDuplicateKey } from "../db/ids.js";
import type { Deps } from "../deps.js";
import { AppError } from "../shared/errors.js";

/** True when `owner` has blocked `viewer`: the owner then looks absent to the viewer. */
export async function hasBlocked(deps: Deps, owner: ObjectId, viewer: ObjectId): Promise<boolean> {
  return (
    (await deps.store.col.blocks.countDocuments({ blocker_id: owner, blocked_id: viewer }, { limit: 1 })) > 0
  );
}

export function notSelf(me: ObjectId, them: ObjectId, what: string) {
  if (me.equals(them)) {
    throw new AppError("VALIDATION_ERROR", `You cannot ${what} yourself`, { user_id: "cannot be yourself" });
  }
}

/**
 * Blocks idempotently and ends any contact or pending request between the two, so the blocked user
 * keeps no view of the blocker's profile through their contact list.
 */
export async function blockUser(deps: Deps, me: ObjectId, them: ObjectId) {
  const { blocks, contacts } = deps.store.col;
  try {
    await blocks.insertOne({
      _id: new ObjectId(),
      blocker_id: me,
      blocked_id: them,
      created_at: deps.clock.now(),
    });
  } catch (err) {
    if (!isDuplicateKey(err)) throw err;
  }
  // After the insert, so a request racing this block either is deleted here or sees the block.
  await contacts.deleteMany({
    $or: [
      { owner_id: me, contact_id: them },
      { owner_id: them, contact_id: me },
    ],
  });
}

export async function unblockUser(deps: Deps, me: ObjectId, them: ObjectId): Promise<boolean> {
  return (await deps.store.col.blocks.deleteOne({ blocker_id: me, blocked_id: them })).deletedCount > 0;
}

/** One page of the caller's blocks, newest first, with the blocked users' usernames. */
export async function listBlocks(deps: Deps, me: ObjectId, limit: number, offset: number) {
  const { blocks, users } = deps.store.col;
  const total = await blocks.countDocuments({ blocker_id: me });
  const docs = await blocks
    .find({ blocker_id: me })
    .sort({ created_at: -1, _id: -1 })
    .skip(offset)
    .limit(limit)
    .toArray();
  const found = await users
    .find({ _id: { $in: docs.map((d) => d.blocked_id) } }, { projection: { username: 1 } })
    .toArray();
  const names = new Map(found.map((u) => [u._id.toHexString(), u.username]));
  const entries = docs.flatMap((d) => {
    const username = names.get(d.blocked_id.toHexString());
    return username === undefined
      ? []
      : [{ user_id: d.blocked_id.toHexString(), username, blocked_at: d.created_at.toISOString() }];
  });
  return { entries, total };
}
