import type { AttachmentRef } from "./attachments.js";
import type { IdentityChange, RefusedDevice } from "./directory.js";
import type { Schemas, StreamEntry, TypingFrame, UserStatusFrame } from "./types.js";

/** What the sender sealed: the SDK's message body format (inside encrypted_content). */
export interface Envelope {
  v: 1;
  text: string;
  attachments?: AttachmentRef[];
  /**
   * An SDK control message, not for the app: `session_reset` is sent (with empty text) after a
   * message from some device did not open, so that device gets a new session (docs/client.md).
   */
  control?: "session_reset";
}

/** A message as the app sees it: decrypted, and checked against the sender device's pinned key. */
export interface ReceivedMessage {
  id: string;
  conversationId: string;
  seq: number;
  senderId: string | null;
  senderDeviceId: string | null;
  /** Sent by this account (from this or another of its devices). */
  outgoing: boolean;
  /** Null for a view-once message not opened yet (`openViewOnce`), or one deleted for everyone. */
  text: string | null;
  attachments: AttachmentRef[];
  viewOnce: boolean;
  /** The sender device's pinned identity key signed this content. */
  verified: boolean;
  createdAt: string;
  editedAt: string | null;
  expiresAt: string | null;
  /** The ciphertext as received: what `openViewOnce` opens. */
  encryptedContent: string | null;
}

export interface Events {
  message: ReceivedMessage;
  edited: ReceivedMessage;
  deleted: { messageId: string; conversationId: string; forEveryone: boolean };
  receipt: Schemas["MessageStatusUpdate"];
  viewed: { messageId: string; conversationId: string; userId: string; deviceId: string; timestamp: string };
  expired: { messageId: string; conversationId: string };
  conversation: Schemas["ConversationUpdated"];
  contact: Schemas["ContactsUpdated"];
  /**
   * A safety-number change: a user's account key is not the one pinned (an account-key reset), or
   * a legacy account's device key changed. Show it.
   */
  identity_changed: IdentityChange;
  /**
   * A device some list named whose signature does not verify against its user's pinned account
   * key: nothing is ever encrypted to it. Reported once per device and key. Show it: the server
   * (or whoever wrote its database) tried to add a reader.
   */
  device_refused: RefusedDevice;
  /** An account's device list changed (a device linked, or the account key reset). */
  devices_changed: {
    userId: string;
    reason: "device_linked" | "account_key_changed";
    deviceId: string;
    /** This very device was linked (it is no longer pending). */
    thisDevice: boolean;
  };
  typing: TypingFrame;
  presence: UserStatusFrame;
  /** A message this device could not open (no key for it, bad ciphertext). */
  undecryptable: { messageId: string; conversationId: string; reason: string };
  /** Every stream entry, as received, before the typed event above. */
  entry: StreamEntry;
  /** The socket's errors (a refused send over the socket, a bad frame). */
  error: { code: string; message: string };
  /** The session or device is gone: log in again. */
  ended: { code: number; reason: string };
}
export type EventName = keyof Events;
type Handler<K extends EventName> = (e: Events[K]) => void | Promise<void>;

/** A typed emitter whose handlers may be async: the stream waits for them before acknowledging. */
export class Emitter {
  private readonly handlers = new Map<EventName, Set<Handler<never>>>();

  on<K extends EventName>(name: K, handler: Handler<K>): () => void {
    const set = this.handlers.get(name) ?? new Set();
    this.handlers.set(name, set);
    set.add(handler as Handler<never>);
    return () => set.delete(handler as Handler<never>);
  }

  protected async emit<K extends EventName>(name: K, event: Events[K]) {
    const set = this.handlers.get(name);
    if (!set) return;
    await Promise.all([...set].map((h) => (h as Handler<K>)(event)));
  }
}
