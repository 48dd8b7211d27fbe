import type { ObjectId } from "mongodb";
import { isDuplicateKey } from "../db/ids.js";
import { owned } from "../db/owned.js";
import type { Deps } from "../deps.js";
import { addSeconds } from "../shared/clock.js";

/** How long a client_message_id makes a retry return the first message instead of a second one. */
export const RETRY_WINDOW_SECONDS = 86_400;

/** `_id` is `<sender hex id>:<client_message_id>`: the unique _id lets exactly one send claim it. */
export interface ClientIdDoc {
  _id: string;
  sender_id: ObjectId;
  message_id: ObjectId;
  expires_at: Date;
}
export const clientIds = owned<ClientIdDoc>({
  name: "client_message_ids",
  owner: "messages",
  holds: "a sender's client_message_id and the message it produced, so a retry returns that message",
  indexes: [{ key: { sender_id: 1 } }],
  expires: true,
  onExpiry: `erased ${RETRY_WINDOW_SECONDS / 3600} h after the send`,
  onAccountDeletion: "erased",
  eraseAccount: (col, a) => col.deleteMany({ sender_id: a._id }),
});
const col = (deps: Deps) => clientIds.col(deps.store.db);
const keyOf = (sender: ObjectId, clientId: string) => `${sender.toHexString()}:${clientId}`;

/** The message an earlier send with this id produced, if its claim is still live. */
export async function claimedMessage(deps: Deps, sender: ObjectId, clientId: string) {
  const doc = await col(deps).findOne({ _id: keyOf(sender, clientId) });
  return doc && doc.expires_at > deps.clock.now() ? doc.message_id : null;
}

/**
 * Claims a client_message_id for the message about to be stored: true for the one send that gets
 * it; false when another send holds it (the caller returns that send's message). Returns the
 * release to call if the send then fails, so that a retry can use the id again.
 */
export async function claimClientId(deps: Deps, sender: ObjectId, clientId: string, messageId: ObjectId) {
  const _id = keyOf(sender, clientId);
  const now = deps.clock.now();
  const claim = () =>
    col(deps)
      .insertOne({
        _id,
        sender_id: sender,
        message_id: messageId,
        expires_at: addSeconds(now, RETRY_WINDOW_SECONDS),
      })
      .then(
        () => true,
        (err) => {
          if (isDuplicateKey(err)) return false;
          throw err;
        },
      );
  // The insert first: an id is nearly always new, so a claim is one write. Only when it is taken
  // may the holder be an expired claim the sweeper has not reached yet, which is no claim: it goes
  // (only if still expired, so a live claim is never taken away) and the insert is tried again.
  if (!(await claim())) {
    const { deletedCount } = await col(deps).deleteOne({ _id, expires_at: { $lte: now } });
    if (!deletedCount || !(await claim())) return null;
  }
  return () => col(deps).deleteOne({ _id, message_id: messageId });
}
