import type { ObjectId } from "mongodb";

/**
 * Where messages this process served at the ends of history pages sit: their conversation and
 * position, which never change once a message is stored. A page at a cursor (history.ts) starts its
 * reads from the cursor's position at once when it is known here, its read of messages starting at
 * the cursor itself (is it still there?) rather than after a lookup of it: the cursor a client
 * pages on is one end of the page it got last. At most `max`, the oldest noted
 * forgotten first; a cursor not known here is read first, as always.
 */
export class Positions {
  readonly #at = new Map<string, { conversation: string; seq: number }>();

  constructor(readonly max = 4_096) {}

  /** The position of message `id` (as a client sent it) in `conversation`, if known here. */
  seqOf(id: string, conversation: ObjectId): number | undefined {
    const known = this.#at.get(id.toLowerCase());
    return known?.conversation === conversation.toHexString() ? known.seq : undefined;
  }

  note(messages: readonly { _id: ObjectId; conversation_id: ObjectId; seq: number }[]) {
    for (const m of messages) {
      const id = m._id.toHexString();
      this.#at.delete(id);
      this.#at.set(id, { conversation: m.conversation_id.toHexString(), seq: m.seq });
      if (this.#at.size > this.max) this.#at.delete(this.#at.keys().next().value!);
    }
  }
}
