import type { ObjectId } from "mongodb";
import { eraseForMessages } from "../attachments/owners.js";
import { isDuplicateKey } from "../db/ids.js";
import type { Deps } from "../deps.js";
import type { ContentType } from "./schemas.js";

export interface MessageDoc {
  _id: ObjectId;
  conversation_id: ObjectId;
  /** Position in the conversation (unique there): history pages are ranges of it. */
  seq: number;
  /** Null once the sender's account is deleted. */
  sender_id: ObjectId | null;
  /** Which of the sender's devices encrypted it (recipients pick the session by it); null once removed. */
  sender_device_id: string | null;
  /** Opaque ciphertext; null once deleted for everyone. */
  encrypted_content: string | null;
  encrypted_preview: string | null;
  content_type: ContentType;
  reply_to: ObjectId | null;
  is_ephemeral: boolean;
  ttl_seconds: number | null;
  view_once: boolean;
  /** Which set of wrapped keys is current (an edit writes a new set, then drops the old). */
  version: number;
  next_version: number;
  created_at: Date;
  edited_at: Date | null;
  deleted: boolean;
  deleted_at: Date | null;
  /**
   * When the message is erased: its disappearing timer, or a tombstone's retention. Reads leave it
   * out from this moment; the expiry job erases it within seconds.
   */
  expires_at: Date | null;
  /** View-once only: when its ciphertext is erased whether or not every recipient opened it. */
  view_once_until?: Date;
}

/** Whether a message is past its expiry (reads leave it out before the job has erased it). */
export const isExpired = (m: { expires_at?: Date | null }, now: Date) =>
  m.expires_at != null && m.expires_at <= now;
/**
 * The messages collection, declared by its owner in collection.ts (indexes, expiry, cascades). Its
 * expiry step (expiry.ts) reads and erases through this file, so this file takes the collection
 * by its name rather than from the declaration: the declaration depends on both, neither on it.
 */
export const MESSAGES = "messages";
const col = (deps: Deps) => deps.store.db.collection<MessageDoc>(MESSAGES);

export const findMessage = (deps: Deps, id: ObjectId) => col(deps).findOne({ _id: id });

export const findMessages = (deps: Deps, ids: ObjectId[]) =>
  col(deps)
    .find({ _id: { $in: ids } })
    .toArray();

/** Stores a message; storing it again (a resumed send) is a no-op. */
export async function insertMessage(deps: Deps, doc: MessageDoc) {
  try {
    await col(deps).insertOne(doc);
  } catch (err) {
    if (!isDuplicateKey(err) || !(await col(deps).findOne({ _id: doc._id }))) throw err;
  }
}

/**
 * Up to `limit` messages of a conversation strictly between two positions, nearest to `from`
 * first: descending from `below`, or ascending from `above`.
 */
export function messageRange(
  deps: Deps,
  conversationId: ObjectId,
  above: number,
  below: number,
  direction: 1 | -1,
  limit: number,
) {
  return col(deps)
    .find({ conversation_id: conversationId, seq: { $gt: above, $lt: below } })
    .sort({ seq: direction })
    .limit(limit)
    .toArray();
}

/** Reserves the next key-set version for an edit, while the message is not deleted. */
export const nextVersion = (deps: Deps, id: ObjectId) =>
  col(deps).findOneAndUpdate(
    { _id: id, deleted: false },
    { $inc: { next_version: 1 } },
    { returnDocument: "after" },
  );

/** Applies an edit unless the message was deleted or a later edit (higher version) landed. */
export async function applyEdit(
  deps: Deps,
  id: ObjectId,
  version: number,
  set: Pick<MessageDoc, "encrypted_content" | "encrypted_preview" | "content_type">,
) {
  const { modifiedCount } = await col(deps).updateOne(
    { _id: id, deleted: false, version: { $lt: version } },
    { $set: { ...set, version, edited_at: deps.clock.now() } },
  );
  return modifiedCount === 1;
}

/**
 * Turns a message into a tombstone; true for the call that did it. The tombstone is kept for
 * TOMBSTONE_RETENTION_SECONDS (devices that were offline learn of the deletion from it), or until
 * the message's own expiry if that comes first.
 */
export async function tombstone(deps: Deps, m: Pick<MessageDoc, "_id" | "expires_at">) {
  const now = deps.clock.now();
  const keep = new Date(now.getTime() + deps.config.TOMBSTONE_RETENTION_SECONDS * 1000);
  const { modifiedCount } = await col(deps).updateOne(
    { _id: m._id, deleted: false },
    {
      $set: {
        deleted: true,
        deleted_at: now,
        encrypted_content: null,
        encrypted_preview: null,
        reply_to: null,
        expires_at: m.expires_at && m.expires_at < keep ? m.expires_at : keep,
      },
      $unset: { view_once_until: "" },
    },
  );
  // The ciphertext is gone, so are the blobs it named (delete for everyone, view-once done or capped).
  if (modifiedCount === 1) await eraseForMessages(deps, [m._id]);
  return modifiedCount === 1;
}

/** A view-once message that is a tombstone already needs no cap. */
export const clearViewOnceCap = (deps: Deps, id: ObjectId) =>
  col(deps).updateOne({ _id: id }, { $unset: { view_once_until: "" } });

/** View-once messages past their cap, oldest first, at most `limit`. */
export const viewOnceDue = (deps: Deps, now: Date, limit: number) =>
  col(deps)
    .find({ view_once_until: { $lte: now } })
    .sort({ view_once_until: 1 })
    .limit(limit)
    .toArray();

/** Up to `limit` messages past their expiry (the expires_at index: cost follows what expired). */
export const expiredMessages = (deps: Deps, now: Date, limit: number) =>
  col(deps)
    .find({ expires_at: { $lte: now } })
    .limit(limit)
    .toArray();

/** Erases messages by `_id`, one delete each (an `_id` lookup: the cheapest on both stores). */
export async function deleteMessages(deps: Deps, ids: ObjectId[]) {
  if (!ids.length) return;
  await col(deps).bulkWrite(
    ids.map((_id) => ({ deleteOne: { filter: { _id } } })),
    { ordered: false },
  );
}
