import type { z } from "@hono/zod-openapi";
import type { ObjectId } from "mongodb";
import type { ConversationChange, EntryData, EntryType, MessageEventBody } from "./schemas.js";

/*
 * Step 1 of delivery (deliver.ts lists them all): what a change is. Types only, and nothing here
 * imports the dependency bag, so src/deps.ts can name them without an import cycle.
 */

/** One device that must learn of a change. */
export interface DeviceTarget {
  user_id: ObjectId;
  device_id: string;
}
/**
 * The message as every device sees it: the Message body of the API (messages/schemas.ts) less
 * `recipient_keys` and `status`; each target carries its own key only. Its schema is the stream's
 * (schemas.ts), where each device's copy gets that key.
 */
export type MessageEvent = Omit<MessageEventBody, "recipient_keys">;

export type ConversationReason = z.infer<typeof ConversationChange>;

/** What every change about one message carries: when that message expires (null: never). */
interface AboutMessage {
  /** The entries it makes read as `erased` from then on, in every stream (StreamEntryDoc.hide_at). */
  expires_at: Date | null;
}

/**
 * A change about an account rather than a message: every target gets the same `data`. A contact
 * entry (each side of a pair is its own change, as that side sees it), an identity key replaced,
 * an account's device list changed, a device's one-time prekeys running low.
 */
type AccountNotice<T extends EntryType> = { type: T; data: EntryData<T>; targets: DeviceTarget[] };

/**
 * Everything that changes what some device should show. Each names every device that must learn
 * of it, with what that device may see; those about a message or conversation name it too.
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
    }
  | AccountNotice<"contacts_updated">
  | AccountNotice<"identity_changed">
  | AccountNotice<"devices_changed">
  | AccountNotice<"prekeys_low">;

/** Step 2's output, step 3's input: one entry to append, for one device, of one type. */
export type EntryInput = {
  [T in EntryType]: {
    user_id: ObjectId;
    device_id: string;
    type: T;
    data: EntryData<T>;
    /** Whom and what the entry names, for erasure (see StreamEntryDoc.refs). */
    refs: string[];
    /** When the message it is about expires: it reads as `erased` from then (StreamEntryDoc.hide_at). */
    hide_at?: Date | null;
  };
}[EntryType];

/** Where an appended entry went. */
export interface Placed {
  user_id: ObjectId;
  device_id: string;
  position: number;
}

/**
 * The stream writer of this process (deps.writer, append.ts): the one way entries enter streams,
 * called only by the door (deliver.ts).
 */
export interface StreamWriter {
  /** Appends entries, each device's in the order given; resolves with where each went, in input order. */
  append(inputs: readonly EntryInput[]): Promise<Placed[]>;
  /** Resolves once every append, head raise and feed notice under way has been written. */
  settle(): Promise<void>;
}
