import type { z } from "@hono/zod-openapi";
import type { ObjectId } from "mongodb";
import type { Deps } from "../deps.js";
import { listDevicesOf } from "../devices/repo.js";
import { append } from "../stream/append.js";
import { markOpened, redactCopies, redactRef } from "../stream/repo.js";
import type { ConversationChange, MessageEventBody } from "../stream/schemas.js";
import { entriesFor } from "./entries.js";

/** One device that must learn of a change. */
export interface DeviceTarget {
  user_id: ObjectId;
  device_id: string;
}
/**
 * The message as every device sees it: the Message body of the API (messages/schemas.ts) less
 * `recipient_keys` and `status`; each target carries its own key only. Its schema is the stream's
 * (src/stream/schemas.ts), where each device's copy gets that key.
 */
export type MessageEvent = Omit<MessageEventBody, "recipient_keys">;

export type ConversationReason = z.infer<typeof ConversationChange>;

/** What every change about one message carries: when that message expires (null: never). */
interface AboutMessage {
  /** The entries it makes read as `erased` from then on, in every stream (StreamEntryDoc.hide_at). */
  expires_at: Date | null;
}

/**
 * Everything that changes what some device should show. Each names its conversation, its message
 * if any, and every device that must learn of it with what that device may see.
 */
export type Change =
  | ({
      type: "new_message" | "message_edited";
      conversation_id: ObjectId;
      message_id: ObjectId;
      message: MessageEvent;
      /** A view-once message's recipients get no key here (null): only POST /messages/{id}/open gives it. */
      targets: (DeviceTarget & { encrypted_key: string | null })[];
    } & AboutMessage)
  | ({
      /** A recipient device opened a view-once message; told to the sender's devices. */
      type: "message_viewed";
      conversation_id: ObjectId;
      message_id: ObjectId;
      user_id: ObjectId;
      device_id: string;
      timestamp: Date;
      targets: DeviceTarget[];
    } & AboutMessage)
  | {
      /** The message passed its expiry and was erased; told to every member device. */
      type: "message_expired";
      conversation_id: ObjectId;
      message_id: ObjectId;
      targets: DeviceTarget[];
    }
  | ({
      type: "message_deleted";
      conversation_id: ObjectId;
      message_id: ObjectId;
      deleted_for_everyone: boolean;
      targets: DeviceTarget[];
    } & AboutMessage)
  | ({
      type: "message_status_update";
      conversation_id: ObjectId;
      message_id: ObjectId;
      status: "delivered" | "read";
      /** Who read it, or whose device it reached. */
      user_id: ObjectId;
      device_id: string | null;
      timestamp: Date;
      /** Whether the sender is told (false when the reader's read_receipts are off). */
      to_sender: boolean;
      targets: DeviceTarget[];
    } & AboutMessage)
  | {
      type: "conversation_updated";
      conversation_id: ObjectId;
      reason: ConversationReason;
      /** The member a membership change is about. */
      user_id: ObjectId | null;
      targets: DeviceTarget[];
    };

/**
 * The one place where "a message or conversation changed" is recorded: every send, edit,
 * deletion, receipt and membership or name change calls it exactly once. Each target device gets
 * an entry in its stream (src/stream/), which live sockets receive at once, on any process.
 */
export const recordChange = (deps: Deps, change: Change) => recordChanges(deps, [change]);

/**
 * Several changes recorded at once (the expiry job's batch): each as recordChange would, and
 * their entries in one append, so a batch costs a few writes, not a few per change.
 */
export async function recordChanges(deps: Deps, changes: readonly Change[]) {
  for (const change of changes) {
    deps.onChange?.(change);
    deps.metrics.inc("message_changes_total", "Message and conversation changes recorded, by type", {
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
  await append(deps, changes.flatMap(entriesFor));
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
