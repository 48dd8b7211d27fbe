import type { ObjectId } from "mongodb";
import { isDuplicateKey, newId } from "../db/ids.js";
import { never, owned } from "../db/owned.js";
import type { Deps } from "../deps.js";
import { AppError } from "../http/errors.js";

export interface BlockDoc {
  _id: ObjectId;
  blocker_id: ObjectId;
  blocked_id: ObjectId;
  created_at: Date;
}
export const blocks = owned<BlockDoc>({
  name: "blocks",
  owner: "blocks",
  holds: "one user's block of another id",
  indexes: [
    { key: { blocker_id: 1, blocked_id: 1 }, options: { unique: true } },
    { key: { blocker_id: 1, created_at: -1, _id: -1 } },
    { key: { blocked_id: 1 } },
  ],
  ...never,
  onAccountDeletion: "erased, both the account's blocks and blocks of it",
  eraseAccount: (col, a) => col.deleteMany({ $or: [{ blocker_id: a._id }, { blocked_id: a._id }] }),
});
const col = (deps: Deps) => blocks.col(deps.store.db);

/** A user keeps at most this many blocks: enough for anyone, and a bound on what one account stores. */
export const MAX_BLOCKS = 5_000;

/** True when `owner` has blocked `viewer`. What that means for visibility is decided in policy.ts. */
export async function hasBlocked(deps: Deps, owner: ObjectId, viewer: ObjectId): Promise<boolean> {
  return (await col(deps).countDocuments({ blocker_id: owner, blocked_id: viewer }, { limit: 1 })) > 0;
}

/** Which of `others` `me` has blocked or been blocked by, as hex ids; two queries for the lot. */
export async function blockedBetween(deps: Deps, me: ObjectId, others: ObjectId[]): Promise<Set<string>> {
  if (!others.length) return new Set();
  const [mine, theirs] = await Promise.all([
    col(deps)
      .find({ blocker_id: me, blocked_id: { $in: others } }, { projection: { blocked_id: 1 } })
      .toArray(),
    col(deps)
      .find({ blocker_id: { $in: others }, blocked_id: me }, { projection: { blocker_id: 1 } })
      .toArray(),
  ]);
  return new Set(
    [...mine.map((b) => b.blocked_id), ...theirs.map((b) => b.blocker_id)].map((id) => id.toHexString()),
  );
}

/** Which of `ids` `me` has blocked, as hex ids; one query. */
export async function blockedAmong(deps: Deps, me: ObjectId, ids: ObjectId[]): Promise<Set<string>> {
  if (!ids.length) return new Set();
  const found = await col(deps)
    .find({ blocker_id: me, blocked_id: { $in: ids } }, { projection: { blocked_id: 1 } })
    .toArray();
  return new Set(found.map((b) => b.blocked_id.toHexString()));
}

/** Which of `ids` have blocked `viewer`, as hex ids; one query. */
export async function blockersOf(deps: Deps, viewer: ObjectId, ids: ObjectId[]): Promise<Set<string>> {
  if (!ids.length) return new Set();
  const found = await col(deps)
    .find({ blocker_id: { $in: ids }, blocked_id: viewer }, { projection: { blocker_id: 1 } })
    .toArray();
  return new Set(found.map((b) => b.blocker_id.toHexString()));
}

/** Records a block, idempotently; true when it is new. */
export async function blockUser(deps: Deps, me: ObjectId, them: ObjectId): Promise<boolean> {
  if ((await col(deps).countDocuments({ blocker_id: me }, { limit: MAX_BLOCKS })) >= MAX_BLOCKS) {
    throw new AppError("INVALID_STATE", `You can block at most ${MAX_BLOCKS} users; unblock someone first`);
  }
  try {
    await col(deps).insertOne({
      _id: newId(),
      blocker_id: me,
      blocked_id: them,
      created_at: deps.clock.now(),
    });
    return true;
  } catch (err) {
    if (!isDuplicateKey(err)) throw err;
    return false;
  }
}

export async function unblockUser(deps: Deps, me: ObjectId, them: ObjectId): Promise<boolean> {
  return (await col(deps).deleteOne({ blocker_id: me, blocked_id: them })).deletedCount > 0;
}

/** One page of the caller's blocks, newest first. */
export async function listBlocks(deps: Deps, me: ObjectId, limit: number, offset: number) {
  const total = await col(deps).countDocuments({ blocker_id: me });
  const docs = await col(deps)
    .find({ blocker_id: me })
    .sort({ created_at: -1, _id: -1 })
    .skip(offset)
    .limit(limit)
    .toArray();
  return { docs, total };
}
