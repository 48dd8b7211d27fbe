import type { AttachmentRef } from "./attachments.js";
import type { IdentityChange } from "./directory.js";
import type { Schemas, StreamEntry, TypingFrame, UserStatusFrame } from "./types.js";

/** What the sender sealed: the SDK's message body format (inside encrypted_content). */
export interface Envelope {
  v: 1;
  text: string;
  attachments?: AttachmentRef[];
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
  /** A safety-number change: a device's identity key is not the one pinned. Show it. */
  identity_changed: IdentityChange;
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
