import type { ObjectId } from "mongodb";
import type { Deps } from "../deps.js";

/** True when `owner` has blocked `viewer`: the owner then looks absent to the viewer. */
export async function hasBlocked(deps: Deps, owner: ObjectId, viewer: ObjectId): Promise<boolean> {
  return (
    (await deps.store.col.blocks.countDocuments({ blocker_id: owner, blocked_id: viewer }, { limit: 1 })) > 0
  );
}
