import type { Change, DeviceTarget, EntryInput } from "./change.js";
import type { EntryData, EntryType } from "./schemas.js";

/*
 * Step 2 of delivery (deliver.ts lists them all): a change as the entries of the devices it names.
 */

const hex = (id: { toHexString(): string } | null) => id?.toHexString() ?? null;

/** The same entry for every target device. */
function toEach<T extends EntryType>(targets: DeviceTarget[], type: T, data: EntryData<T>, refs: string[]) {
  return targets.map((t) => ({ user_id: t.user_id, device_id: t.device_id, type, data, refs }) as EntryInput);
}

/**
 * A change as stream entries, one per target device. `refs` name whom and what each entry is
 * about, so that erasing any of them (a message deleted for everyone, a conversation erased, an
 * account deleted, a member leaving) empties the entry in every stream.
 */
export function entriesFor(change: Change): EntryInput[] {
  // Entries about a message that expires read as `erased` from its expiry (StreamEntryDoc.hide_at).
  const hide_at = "expires_at" in change ? change.expires_at : null;
  return entriesOf(change).map((e) => (hide_at ? { ...e, hide_at } : e));
}

function entriesOf(change: Change): EntryInput[] {
  if (!("conversation_id" in change)) return noticeEntries(change);
  const conversation = change.conversation_id.toHexString();
  switch (change.type) {
    case "new_message":
    case "message_edited": {
      const { message } = change;
      const refs = [message.id, conversation, ...(message.sender_id ? [message.sender_id] : [])];
      return change.targets.map((t) => ({
        user_id: t.user_id,
        device_id: t.device_id,
        type: change.type,
        data: {
          message: {
            ...message,
            // Whether this device has opened it: false where its key is withheld (a view-once
            // recipient; POST /messages/{id}/open marks its copy), null for the sender's devices.
            metadata: { ...message.metadata, opened: t.encrypted_key === null ? false : null },
            // A view-once message's key is handed out only by POST /messages/{id}/open.
            recipient_keys:
              t.encrypted_key === null
                ? []
                : [
                    {
                      user_id: t.user_id.toHexString(),
                      device_id: t.device_id,
                      encrypted_key: t.encrypted_key,
                    },
                  ],
          },
        },
        refs,
      }));
    }
    case "message_deleted": {
      const data = {
        message_id: change.message_id.toHexString(),
        conversation_id: conversation,
        deleted_for_everyone: change.deleted_for_everyone,
      };
      return toEach(change.targets, "message_deleted", data, [data.message_id, conversation]);
    }
    case "message_viewed": {
      const data = {
        message_id: change.message_id.toHexString(),
        conversation_id: conversation,
        user_id: change.user_id.toHexString(),
        device_id: change.device_id,
        timestamp: change.timestamp.toISOString(),
      };
      return toEach(change.targets, "message_viewed", data, [
        data.message_id,
        conversation,
        data.user_id,
        `${data.user_id}:${data.device_id}`,
      ]);
    }
    case "message_expired": {
      const data = { message_id: change.message_id.toHexString(), conversation_id: conversation };
      return toEach(change.targets, "message_expired", data, [data.message_id, conversation]);
    }
    case "message_status_update": {
      const data = {
        message_id: change.message_id.toHexString(),
        conversation_id: conversation,
        status: change.status,
        user_id: change.user_id.toHexString(),
        device_id: change.device_id,
        timestamp: change.timestamp.toISOString(),
      };
      return toEach(change.targets, "message_status_update", data, [
        data.message_id,
        conversation,
        data.user_id,
        ...(data.device_id ? [`${data.user_id}:${data.device_id}`] : []),
      ]);
    }
    case "conversation_updated": {
      const data = { conversation_id: conversation, reason: change.reason, user_id: hex(change.user_id) };
      return toEach(change.targets, "conversation_updated", data, [
        conversation,
        ...(data.user_id ? [data.user_id] : []),
      ]);
    }
  }
}

/** A change about an account: the same data for every target, naming whom it is about. */
function noticeEntries(change: Exclude<Change, { conversation_id: unknown }>): EntryInput[] {
  switch (change.type) {
    // A contact entry names the other person: it goes when they do.
    case "contacts_updated":
      return toEach(change.targets, change.type, change.data, [change.data.user_id]);
    case "identity_changed":
      return toEach(change.targets, change.type, change.data, [
        change.data.user_id,
        `${change.data.user_id}:${change.data.device_id}`,
      ]);
    case "devices_changed":
      return toEach(change.targets, change.type, change.data, [
        change.data.user_id,
        `${change.data.user_id}:${change.data.device.device_id}`,
      ]);
    // Only the device's own stream holds it, and that goes with the device: nothing else to name.
    case "prekeys_low":
      return toEach(change.targets, change.type, change.data, []);
  }
}
