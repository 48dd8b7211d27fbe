import { owned } from "../db/owned.js";
import type { Deps } from "../deps.js";
import { expireMessages } from "./expiry.js";
import { MESSAGES, type MessageDoc } from "./repo.js";

/**
 * The messages collection as its owner declares it: what one document holds, its indexes, and what
 * happens to it on expiry (the expiry step, expiry.ts) and when an account, a device or a
 * conversation goes. Its data access is repo.ts.
 */
export const messages = owned<MessageDoc, Deps>({
  name: MESSAGES,
  owner: "messages",
  holds:
    "one message: opaque ciphertext (no key that opens it), content type, reply reference, sender " +
    "and sending device, position, timestamps; a tombstone without ciphertext once deleted for everyone",
  indexes: [
    { key: { conversation_id: 1, seq: 1 }, options: { unique: true } },
    { key: { sender_id: 1, sender_device_id: 1 } },
    { key: { view_once_until: 1 }, options: { sparse: true } },
  ],
  expires: true,
  onExpiry:
    "a disappearing message past its timer, or a tombstone past its retention, is erased by the " +
    "message expiry job with its keys, receipts and marks; counters and last message are fixed and " +
    "every member device is told (message_expired)",
  expire: (deps, now) => expireMessages(deps, now),
  onAccountDeletion:
    "kept for the conversation's other members, with sender and sending device set to null (a " +
    "deleted account); erased with the conversation once nobody is left in it",
  eraseAccount: (col, a) =>
    col.updateMany({ sender_id: a._id }, { $set: { sender_id: null, sender_device_id: null } }),
  eraseDevice: (col, userId, deviceId) =>
    col.updateMany({ sender_id: userId, sender_device_id: deviceId }, { $set: { sender_device_id: null } }),
  eraseConversation: (col, id) => col.deleteMany({ conversation_id: id }),
});
