import { MongoBulkWriteError, type ObjectId } from "mongodb";
import { isDuplicateKey, newId } from "../db/ids.js";
import { owned } from "../db/owned.js";
import type { Deps } from "../deps.js";

/** A message key wrapped by the sender for one recipient device; only that device is handed it. */
export interface MessageKeyDoc {
  _id: ObjectId;
  message_id: ObjectId;
  conversation_id: ObjectId;
  /** The message's position: a page's keys are one range read, like the page itself. */
  seq: number;
  /** The message's key set this belongs to: an edit writes a new set before dropping the old. */
  version: number;
  user_id: ObjectId;
  device_id: string;
  encrypted_key: string;
  registration_id: number | null;
  /**
   * Until the device confirms it has the message (POST /messages/{id}/delivered), its key is kept
   * for UNDELIVERED_RETENTION_SECONDS, then erased; confirmed keys and the sender's own keep no date.
   */
  expires_at: Date | null;
}
export const messageKeys = owned<MessageKeyDoc>({
  name: "message_keys",
  owner: "messages",
  holds:
    "one message key as the sender wrapped it for one recipient device (opaque to the server); only " +
    "that device is ever handed it",
  indexes: [
    { key: { message_id: 1, version: 1, user_id: 1, device_id: 1 }, options: { unique: true } },
    { key: { user_id: 1, device_id: 1 } },
    { key: { conversation_id: 1, user_id: 1, device_id: 1, seq: 1 } },
  ],
  expires: true,
  onExpiry:
    "a key its device never confirmed receiving is erased UNDELIVERED_RETENTION_SECONDS after the " +
    "send; all of a message's keys go with it when it expires, and a view-once key when it is opened",
  onAccountDeletion: "erased: keys wrapped for the account's devices (nobody else can use them)",
  eraseAccount: (col, a) => col.deleteMany({ user_id: a._id }),
  eraseDevice: (col, userId, deviceId) => col.deleteMany({ user_id: userId, device_id: deviceId }),
  eraseConversation: (col, id) => col.deleteMany({ conversation_id: id }),
  eraseMembership: (col, id, userId) => col.deleteMany({ conversation_id: id, user_id: userId }),
});
const col = (deps: Deps) => messageKeys.col(deps.store.db);

export interface WrappedKey {
  user_id: ObjectId;
  device_id: string;
  encrypted_key: string;
  registration_id: number | null;
}

/** Stores one key set; returns a function that takes it back out (a send or edit that failed later). */
export async function insertKeys(
  deps: Deps,
  message: { _id: ObjectId; conversation_id: ObjectId; seq: number },
  version: number,
  keys: WrappedKey[],
  sender: ObjectId,
  now: Date,
) {
  const until = new Date(now.getTime() + deps.config.UNDELIVERED_RETENTION_SECONDS * 1000);
  const docs = keys.map((k) => ({
    _id: newId(),
    message_id: message._id,
    conversation_id: message.conversation_id,
    seq: message.seq,
    version,
    ...k,
    expires_at: k.user_id.equals(sender) ? null : until,
  }));
  // Unique per message, version and device: inserting the set again (a resumed send) adds nothing.
  if (docs.length) await col(deps).insertMany(docs, { ordered: false }).catch(onlyDuplicates);
  return () => dropKeySet(deps, message._id, version);
}

/** Takes one key set back out, whole or as far as a failed insertKeys got. */
export const dropKeySet = (deps: Deps, messageId: ObjectId, version: number) =>
  col(deps).deleteMany({ message_id: messageId, version });

/** An edit landed: the key sets before it go. */
export const dropOlderKeys = (deps: Deps, messageId: ObjectId, version: number) =>
  col(deps).deleteMany({ message_id: messageId, version: { $lt: version } });

/** A page of messages as keys are matched to it: by position, id and current version. */
type PageOf = { _id: ObjectId; conversation_id: ObjectId; seq: number; version: number }[];

/**
 * The calling device's own keys for a page of messages of one conversation, keyed by message hex
 * id, each at the message's current version: one range read over the page's positions (as the
 * page itself was read), and never another device's key.
 */
export async function keysForDevice(deps: Deps, page: PageOf, userId: ObjectId, deviceId: string) {
  if (!page.length) return new Map<string, MessageKeyDoc>();
  const seqs = page.map((m) => m.seq);
  const found = await col(deps)
    .find({
      conversation_id: page[0]!.conversation_id,
      user_id: userId,
      device_id: deviceId,
      seq: { $gte: Math.min(...seqs), $lte: Math.max(...seqs) },
    })
    .toArray();
  return keysOfPage(page, found);
}

/** Of keys read over a page's positions, those of its messages at their current version, by message hex id. */
export function keysOfPage(page: PageOf, found: MessageKeyDoc[]) {
  const current = new Map(page.map((m) => [m._id.toHexString(), m.version]));
  return new Map(
    found
      .filter((k) => current.get(k.message_id.toHexString()) === k.version)
      .map((k) => [k.message_id.toHexString(), k]),
  );
}

/**
 * The calling device's `limit` keys nearest a position of a conversation, strictly within
 * (above, below), nearest first: read alongside a page before its messages are known
 * (history.ts checks it reaches far enough).
 */
export const keysNear = (
  deps: Deps,
  conversationId: ObjectId,
  device: { userId: ObjectId; deviceId: string },
  range: { above: number; below: number },
  direction: 1 | -1,
  limit: number,
) =>
  col(deps)
    .find({
      conversation_id: conversationId,
      user_id: device.userId,
      device_id: device.deviceId,
      seq: { $gt: range.above, $lt: range.below },
    })
    .sort({ seq: direction })
    .limit(limit)
    .toArray();

/** Delete for everyone: every wrapped key of the message, every version. */
export const eraseMessageKeys = (deps: Deps, messageId: ObjectId) =>
  col(deps).deleteMany({ message_id: messageId });

/** Every message's keys, every version (the expiry job erases them with their messages). */
export const eraseKeysOf = (deps: Deps, messageIds: ObjectId[]) =>
  col(deps).deleteMany({ message_id: { $in: messageIds } });

/** The device has the message: its key is no longer "undelivered" and stays while the message does. */
export const keepKey = (
  deps: Deps,
  m: { _id: ObjectId; version: number },
  userId: ObjectId,
  deviceId: string,
) =>
  col(deps).updateOne(
    { message_id: m._id, version: m.version, user_id: userId, device_id: deviceId },
    { $set: { expires_at: null } },
  );

/** One device's key of a message's current key set (a view-once open reads it before erasing it). */
export const findKey = (
  deps: Deps,
  m: { _id: ObjectId; version: number },
  userId: ObjectId,
  deviceId: string,
) => col(deps).findOne({ message_id: m._id, version: m.version, user_id: userId, device_id: deviceId });

/** Erases one key document (an opened view-once key); erasing it again is a no-op. */
export const eraseKey = (deps: Deps, id: ObjectId) => col(deps).deleteOne({ _id: id });

/** Whether any device but the sender's has yet to open a view-once message (its key is still there). */
export async function unopenedBy(deps: Deps, messageId: ObjectId, sender: ObjectId | null) {
  const left = await col(deps)
    .find({ message_id: messageId }, { projection: { user_id: 1 } })
    .toArray();
  return left.some((k) => !sender || !k.user_id.equals(sender));
}

function onlyDuplicates(err: unknown) {
  const errors = err instanceof MongoBulkWriteError ? [err.writeErrors].flat() : [];
  if (!errors.length || !errors.every(isDuplicateKey)) throw err;
}
