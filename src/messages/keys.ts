import type { ObjectId } from "mongodb";
import { newId } from "../db/ids.js";
import { never, owned } from "../db/owned.js";
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
  ...never,
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
) {
  const docs = keys.map((k) => ({
    _id: newId(),
    message_id: message._id,
    conversation_id: message.conversation_id,
    seq: message.seq,
    version,
    ...k,
  }));
  if (docs.length) await col(deps).insertMany(docs, { ordered: false });
  return () => col(deps).deleteMany({ message_id: message._id, version });
}

/** An edit landed: the key sets before it go. */
export const dropOlderKeys = (deps: Deps, messageId: ObjectId, version: number) =>
  col(deps).deleteMany({ message_id: messageId, version: { $lt: version } });

/**
 * The calling device's own keys for a page of messages of one conversation, keyed by message hex
 * id, each at the message's current version: one range read over the page's positions (as the
 * page itself was read), and never another device's key.
 */
export async function keysForDevice(
  deps: Deps,
  page: { _id: ObjectId; conversation_id: ObjectId; seq: number; version: number }[],
  userId: ObjectId,
  deviceId: string,
) {
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
  const current = new Map(page.map((m) => [m._id.toHexString(), m.version]));
  return new Map(
    found
      .filter((k) => current.get(k.message_id.toHexString()) === k.version)
      .map((k) => [k.message_id.toHexString(), k]),
  );
}

/** Delete for everyone: every wrapped key of the message, every version. */
export const eraseMessageKeys = (deps: Deps, messageId: ObjectId) =>
  col(deps).deleteMany({ message_id: messageId });
