import type { ObjectId } from "mongodb";
import type { Deps } from "../deps.js";
import { listDevicesOf } from "../devices/repo.js";
import type { Change, DeviceTarget } from "./change.js";
import { entriesFor } from "./entries.js";
import { markOpened, redactCopies, redactRef } from "./repo.js";

/*
 * Delivery, the one door into the devices' streams. Every change a device must learn of (a
 * message sent, edited, deleted, read or expired; a conversation changed; a contact entry, an
 * identity key, a device list, a device's prekey stock) is recorded here, and nothing else writes
 * a stream. Its steps, in the order a change takes them, one file each:
 *
 *   1. change.ts    what a change is: whom it is about, and every device that must learn of it
 *   2. entries.ts   the change as stream entries, one per target device, each with what that device may see
 *   3. append.ts    the entries written to the devices' streams (deps.writer, batched per process)
 *   4. bus.ts       the new positions published to every process (deps.bus; tail.ts follows the feed)
 *   5. sockets.ts   this process's sockets of those devices take their entries at once (deps.sockets)
 *   6. wake.ts      a Web Push wake-up for devices with no socket anywhere (presence.ts says who has one)
 *
 * The producers of account changes are in notices.ts (a contact entry's with its owner,
 * src/contacts/notices.ts); the devices' streams themselves (reads, acknowledgements, erasure) in
 * repo.ts, and GET /sync in routes.ts, handlers.ts and index.ts. Entries already delivered change
 * only by erasure or, for a view-once message, as recordOpened and eraseCopies below say.
 */

export type { Change, ConversationReason, DeviceTarget, MessageEvent } from "./change.js";

/**
 * Records one change: every send, edit, deletion, receipt, membership or name change, contact
 * change and key change calls it (or recordChanges) exactly once. Each target device gets an entry
 * in its stream, which live sockets receive at once, on any process.
 */
export const recordChange = (deps: Deps, change: Change) => recordChanges(deps, [change]);

/**
 * Several changes recorded at once (the expiry job's batch): each as recordChange would, and
 * their entries in one append, so a batch costs a few writes, not a few per change.
 */
export async function recordChanges(deps: Deps, changes: readonly Change[]) {
  for (const change of changes) {
    deps.onChange?.(change);
    deps.metrics.inc("message_changes_total", "Changes recorded for delivery, by type", {
      type: change.type,
    });
    deps.metrics.inc(
      "message_change_targets_total",
      "Devices a recorded change is addressed to, by type",
      { type: change.type },
      change.targets.length,
    );
    // The stream's copies of a message deleted for everyone go with its ciphertext (those of an
    // expired message went at its expiry: hide_at, emptied by the job with redactHidden).
    if (change.type === "message_deleted" && change.deleted_for_everyone) {
      await redactRef(deps, change.message_id.toHexString());
    }
  }
  await deps.writer.append(changes.flatMap(entriesFor));
}

/** A device opened a view-once message: its own copy in its stream says so from now on (`opened`). */
export const recordOpened = (deps: Deps, messageId: ObjectId, userId: ObjectId, deviceId: string) =>
  markOpened(deps, messageId.toHexString(), userId, deviceId);

/** A view-once message's ciphertext was erased (opened by all, or capped): so are its copies in every stream. */
export const eraseCopies = (deps: Deps, messageId: ObjectId) => redactCopies(deps, messageId.toHexString());

/** Every current device of the users, less one device (the one making the change). */
export async function devicesOf(
  deps: Deps,
  userIds: ObjectId[],
  except?: { userId: ObjectId; deviceId: string },
): Promise<DeviceTarget[]> {
  const devices = await listDevicesOf(deps, userIds);
  return devices
    .filter((d) => !(except && d.user_id.equals(except.userId) && d.device_id === except.deviceId))
    .map((d) => ({ user_id: d.user_id, device_id: d.device_id }));
}
