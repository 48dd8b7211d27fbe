import type { Collection, CreateIndexesOptions, Db, Document, ObjectId } from "mongodb";

export interface IndexDecl {
  key: Record<string, 1 | -1>;
  options?: CreateIndexesOptions;
}

/** Who an account deletion or a device removal is about. */
export interface Account {
  _id: ObjectId;
  email: string;
}

/**
 * What the cascades need of the dependency bag. An owner whose hooks need more (a departure that
 * promotes an admin and tells the other members) declares the bag's type: `owned<Doc, Deps>()`;
 * the cascades are always called with the whole bag.
 */
export interface CascadeDeps {
  store: { db: Db };
  inventory: readonly AnyOwned[];
  /** The crash tests' hook (Deps.checkpoint): an account's erasure calls it after each collection. */
  checkpoint?: (step: string) => void | Promise<void>;
}

/**
 * A collection and everything its owning feature promises about it: what one document is, its
 * indexes, and what happens to its documents on expiry and when an account or a device goes. The
 * inventory of what Hush stores, index creation, the expiry job and the deletion cascades are all
 * derived from these declarations, so a new collection cannot be forgotten by any of them.
 */
export interface Owned<T extends Document = Document, D = CascadeDeps> {
  name: string;
  /** The feature folder that reads and writes it; nobody else does. */
  owner: string;
  holds: string;
  indexes: IndexDecl[];
  /** Documents carry `expires_at`; the expiry job erases them once it has passed. */
  expires: boolean;
  /**
   * A capped collection (created at start-up when missing): the oldest documents make room for new
   * ones. The local store trims only when asked (see src/delivery/tail.ts).
   */
  capped?: { size: number; max: number };
  onExpiry: string;
  onAccountDeletion: string;
  /**
   * `deps` is there for owners whose erasure is more than a delete: leaving a group promotes an
   * admin or erases the group, an attachment takes its chunks, through the owner's own data access.
   */
  eraseAccount(col: Collection<T>, account: Account, deps: D): Promise<unknown>;
  /**
   * For a collection whose expired documents take more than a delete (messages: their keys,
   * counters and an event to every member device), the owner's own expiry step; the expiry job
   * calls it instead of deleting by `expires_at`. Returns how many documents it erased.
   */
  expire?(deps: D, now: Date): Promise<number>;
  /**
   * False where a TTL deletion on MongoDB would strand data the expired documents own (an
   * attachment's chunks): such a collection gets a plain `expires_at` index and relies on its
   * `expire` step alone.
   */
  ttlBackstop?: false;
  /** What goes with one device of an account, when the collection holds per-device data. */
  eraseDevice?(col: Collection<T>, userId: ObjectId, deviceId: string, deps: D): Promise<unknown>;
  /** What goes when a conversation is erased for good (its last member left), for per-conversation data. */
  eraseConversation?(col: Collection<T>, conversationId: ObjectId, deps: D): Promise<unknown>;
  /** What goes when one member leaves a conversation: what only they could read or had marked there. */
  eraseMembership?(col: Collection<T>, conversationId: ObjectId, userId: ObjectId): Promise<unknown>;
  col(db: Db): Collection<T>;
}

/** Any owner, whatever its document type (Collection<T> is invariant in T). */
// biome-ignore lint/suspicious/noExplicitAny: a heterogeneous list of owners
export type AnyOwned = Owned<any, any>;

export function owned<T extends Document, D = CascadeDeps>(def: Omit<Owned<T, D>, "col">): Owned<T, D> {
  return { ...def, col: (db) => db.collection<T>(def.name) };
}

const noExpiry = "kept until deleted";
export const never = { expires: false, onExpiry: noExpiry } as const;

/** Erases an account from every collection, in inventory order (the owner of `users` comes last). */
export async function eraseAccount(deps: CascadeDeps, account: Account) {
  for (const c of deps.inventory) {
    await c.eraseAccount(c.col(deps.store.db), account, deps);
    await deps.checkpoint?.(`erase_account.${c.name}`);
  }
}

export async function eraseDevice(deps: CascadeDeps, userId: ObjectId, deviceId: string) {
  for (const c of deps.inventory) await c.eraseDevice?.(c.col(deps.store.db), userId, deviceId, deps);
}

/** Erases a conversation and everything in it, in inventory order (the conversation itself last). */
export async function eraseConversation(deps: CascadeDeps, conversationId: ObjectId) {
  for (const c of deps.inventory) await c.eraseConversation?.(c.col(deps.store.db), conversationId, deps);
}

export async function eraseMembership(deps: CascadeDeps, conversationId: ObjectId, userId: ObjectId) {
  for (const c of deps.inventory) await c.eraseMembership?.(c.col(deps.store.db), conversationId, userId);
}

/** The inventory as a Markdown table, for docs/storage.md. */
export function inventoryTable(inventory: readonly AnyOwned[]): string {
  const row = (cells: string[]) => `| ${cells.join(" | ")} |`;
  const lines = [
    row(["collection", "owner", "one document is", "indexes", "on expiry", "on account deletion"]),
    row(["---", "---", "---", "---", "---", "---"]),
    ...inventory.map((c) =>
      row([
        `\`${c.name}\``,
        `\`src/${c.owner}/\``,
        c.holds,
        c.indexes
          .map((i) => `\`${JSON.stringify(i.key)}\`${i.options?.unique ? " unique" : ""}`)
          .join(", ") || "`_id` only",
        c.onExpiry,
        c.onAccountDeletion,
      ]),
    ),
  ];
  return `${lines.join("\n")}\n`;
}
