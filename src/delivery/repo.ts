import type { Collection, ObjectId } from "mongodb";
import { never, owned } from "../db/owned.js";
import type { Deps } from "../deps.js";
import type { EntryType, StreamEntryBody } from "./schemas.js";

/*
 * One ordered stream per device: its collections and how they are read and acknowledged.
 * Entries are written only by append.ts.
 */

export interface StreamEntryDoc {
  _id: string;
  user_id: ObjectId;
  device_id: string;
  position: number;
  type: EntryType;
  data: Record<string, unknown>;
  /**
   * Whom and what the entry names (user ids, `user:device`, message ids): erasing any of them
   * turns the entry into `erased`, keeping its position.
   */
  refs: string[];
  /**
   * When the message the entry is about expires (its copy, an edit, a receipt): from then it is
   * read as `erased`, at once, and the message expiry job empties it in place (`redactHidden`).
   */
  hide_at?: Date;
  created_at: Date;
  expires_at: Date;
}
export interface StreamHeadDoc {
  _id: string;
  user_id: ObjectId;
  device_id: string;
  /** The highest position known to be written; may trail appends in flight (never leads them). */
  last: number;
  /** The highest position the device said it has stored; entries up to it are dropped. */
  acked: number;
}

export const streamEntries = owned<StreamEntryDoc>({
  name: "stream_entries",
  owner: "delivery",
  holds:
    "one entry of a device's ordered update stream, with its position: a message (ciphertext and this device's wrapped key only), an edit, a deletion, a receipt, a conversation change, a contact or identity-key change",
  indexes: [
    { key: { user_id: 1, device_id: 1, position: 1 } },
    { key: { refs: 1, user_id: 1, device_id: 1 } },
    { key: { hide_at: 1 }, options: { sparse: true } },
  ],
  expires: true,
  onExpiry: "erased once the retention (`STREAM_RETENTION_SECONDS`, 30 days) passes unacknowledged",
  onAccountDeletion:
    "the account's devices' streams erased; entries in others' streams that name it become `erased` (content dropped, position kept). The same for a removed device, an erased conversation, a message deleted for everyone, and a departing member's copies of the conversation",
  eraseAccount: async (col, a) => {
    await col.deleteMany({ user_id: a._id });
    await redact(col, a._id.toHexString());
  },
  eraseDevice: async (col, userId, deviceId) => {
    await col.deleteMany({ user_id: userId, device_id: deviceId });
    await redact(col, `${userId.toHexString()}:${deviceId}`);
  },
  // The copies of an erased conversation's messages, and of what a departing member could read.
  eraseConversation: (col, id) => redact(col, id.toHexString()),
  eraseMembership: (col, id, userId) =>
    col.updateMany({ refs: id.toHexString(), user_id: userId }, { $set: erased }),
});
export const streamHeads = owned<StreamHeadDoc>({
  name: "stream_heads",
  owner: "delivery",
  holds: "a device's stream counters: the newest position written and the newest it acknowledged",
  indexes: [{ key: { user_id: 1 } }],
  ...never,
  onAccountDeletion: "erased; device removal erases that device's (a device enrolled again starts at 1)",
  eraseAccount: (col, a) => col.deleteMany({ user_id: a._id }),
  eraseDevice: (col, userId, deviceId) => col.deleteOne({ _id: headKey(userId, deviceId) }),
});

/**
 * Empties every entry that names `ref`. Its position stays taken: a freed position could be
 * claimed again by a writer whose head read is old, and a device past it would never see that.
 */
export const redact = (col: Collection<StreamEntryDoc>, ref: string) =>
  col.updateMany({ refs: ref }, { $set: erased });
const erased = { type: "erased" as const, data: {}, refs: [] };

/**
 * Empties in place every entry whose message has expired (`hide_at` passed): the message expiry
 * job's one write for all the copies, edits and receipts of what it erased (an indexed range on
 * both stores).
 */
export const redactHidden = (deps: Deps, now: Date) =>
  entriesOf(deps).updateMany({ hide_at: { $lte: now } }, { $set: erased, $unset: { hide_at: "" } });

/** Empties the entries that name `ref` (a message deleted for everyone) in every stream. */
export const redactRef = (deps: Deps, ref: string) => redact(entriesOf(deps), ref);

/** The ids of the message copies (new_message, message_edited) naming `ref`, in every stream or one device's. */
async function copiesNaming(deps: Deps, ref: string, device?: { userId: ObjectId; deviceId: string }) {
  const filter = device ? { refs: ref, user_id: device.userId, device_id: device.deviceId } : { refs: ref };
  const found = await entriesOf(deps)
    .find(filter, { projection: { _id: 1, type: 1 } })
    .toArray();
  return found.filter((d) => d.type === "new_message" || d.type === "message_edited").map((d) => d._id);
}

/**
 * Empties the copies of a message (its ciphertext) in every stream, leaving the entries about it
 * (receipts, views): a view-once message whose ciphertext was erased.
 */
export async function redactCopies(deps: Deps, ref: string) {
  await setById(deps, await copiesNaming(deps, ref), erased);
}

/** Marks the device's copies of a view-once message opened (`metadata.opened`), as its history shows it. */
export async function markOpened(deps: Deps, ref: string, userId: ObjectId, deviceId: string) {
  await setById(deps, await copiesNaming(deps, ref, { userId, deviceId }), {
    "data.message.metadata.opened": true,
  });
}

/** One update per _id (an `_id` lookup: the cheapest on both stores). */
async function setById(deps: Deps, ids: string[], set: Record<string, unknown>) {
  if (!ids.length) return;
  await entriesOf(deps).bulkWrite(
    ids.map((_id) => ({ updateOne: { filter: { _id }, update: { $set: set } } })),
    { ordered: false },
  );
}

const entriesOf = (deps: Deps) => streamEntries.col(deps.store.db);
const headsOf = (deps: Deps) => streamHeads.col(deps.store.db);

export const headKey = (userId: ObjectId, deviceId: string) => `${userId.toHexString()}:${deviceId}`;
export const entryId = (userId: ObjectId, deviceId: string, position: number) =>
  `${headKey(userId, deviceId)}:${position}`;

/**
 * An entry as a device receives it, live or in a sync page. One about a message past its expiry
 * (`hide_at`) is `erased` from that instant, before the expiry job empties it in place: nothing
 * expired is read, and the position the device would have seen live is still there.
 */
export function visible(
  d: Pick<StreamEntryDoc, "type" | "position" | "data"> & { hide_at?: Date | null },
  now: Date,
): StreamEntryBody {
  if (d.hide_at && d.hide_at <= now) return { type: "erased", position: d.position, data: {} };
  return { type: d.type, position: d.position, data: d.data } as StreamEntryBody;
}
/**
 * The first position at or after `from` with no entry. Taken positions above the acknowledged
 * ones are contiguous (see docs/realtime.md), so it gallops forward, then halves back: a few
 * `_id` lookups however far a trailing head is behind.
 */
export async function firstFree(deps: Deps, userId: ObjectId, deviceId: string, from: number) {
  const taken = async (p: number) =>
    (await entriesOf(deps).findOne({ _id: entryId(userId, deviceId, p) }, { projection: { _id: 1 } })) !==
    null;
  if (!(await taken(from))) return from;
  let lo = from; // taken
  let step = 1;
  let hi = from + 1;
  while (await taken(hi)) {
    lo = hi;
    step *= 2;
    hi = lo + step;
  }
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (await taken(mid)) lo = mid;
    else hi = mid;
  }
  return hi;
}

/** The device's newest written position: its head, plus what was written past it (heads trail). */
export async function currentPosition(deps: Deps, userId: ObjectId, deviceId: string): Promise<number> {
  const head = await headsOf(deps).findOne({ _id: headKey(userId, deviceId) });
  const known = head ? Math.max(head.last, head.acked) : 0;
  return (await firstFree(deps, userId, deviceId, known + 1)) - 1;
}

/**
 * Entries after `after` up to `upTo`, in order. Short ranges (the live case) are read by _id,
 * which the local store serves from its index too; longer ones by the position index.
 */
export async function readRange(
  deps: Deps,
  userId: ObjectId,
  deviceId: string,
  after: number,
  upTo: number,
): Promise<StreamEntryBody[]> {
  if (upTo <= after) return [];
  if (upTo - after <= 8) {
    const ids = Array.from({ length: upTo - after }, (_, i) => entryId(userId, deviceId, after + 1 + i));
    const found = await Promise.all(ids.map((_id) => entriesOf(deps).findOne({ _id })));
    const now = deps.clock.now();
    return found.filter((d) => d !== null).map((d) => visible(d, now));
  }
  const docs = await entriesOf(deps)
    .find({ user_id: userId, device_id: deviceId, position: { $gt: after, $lte: upTo } })
    .sort({ position: 1 })
    .toArray();
  const now = deps.clock.now();
  return docs.map((d) => visible(d, now));
}

/** A page of the entries after `since`, in order, for sync. */
export async function readAfter(
  deps: Deps,
  userId: ObjectId,
  deviceId: string,
  since: number,
  limit: number,
) {
  const docs = await entriesOf(deps)
    .find({ user_id: userId, device_id: deviceId, position: { $gt: since } })
    .sort({ position: 1 })
    .limit(limit + 1)
    .toArray();
  const now = deps.clock.now();
  return { entries: docs.slice(0, limit).map((d) => visible(d, now)), has_more: docs.length > limit };
}

/** The newest position in the device's stream of an entry naming `ref` (a message id), if any. */
export async function positionOfRef(deps: Deps, userId: ObjectId, deviceId: string, ref: string) {
  const found = await entriesOf(deps)
    .find({ refs: ref, user_id: userId, device_id: deviceId }, { projection: { position: 1 } })
    .toArray();
  return found.reduce((max, d) => Math.max(max, d.position), 0) || null;
}

/** One page of the device's stream after `since`, and its newest position: GET /sync and the socket's `sync`. */
export async function syncPage(deps: Deps, userId: ObjectId, deviceId: string, since: number, limit: number) {
  const page = await readAfter(deps, userId, deviceId, since, limit);
  // Read after the page, so it is at least the last position in it.
  return { ...page, position: await currentPosition(deps, userId, deviceId) };
}

/**
 * Records that the device has stored everything up to `upTo` (at most its newest position) and
 * drops those entries. The head goes first: an append checks it after inserting (retreatBelowAck).
 */
export async function acknowledge(deps: Deps, userId: ObjectId, deviceId: string, upTo: number) {
  const p = Math.min(upTo, await currentPosition(deps, userId, deviceId));
  if (p <= 0) return 0;
  await headsOf(deps).updateOne(
    { _id: headKey(userId, deviceId) },
    { $max: { acked: p }, $setOnInsert: { user_id: userId, device_id: deviceId, last: p } },
    { upsert: true },
  );
  await entriesOf(deps).deleteMany({ user_id: userId, device_id: deviceId, position: { $lte: p } });
  return p;
}

/**
 * The devices whose stream holds an entry of this type naming `ref` (`<user>:<device>`): a change
 * recorded again after a crash (a resumed send) skips them. An entry a device already acknowledged
 * is gone and not seen here (docs/durability.md says what that window costs).
 */
export async function devicesNamed(
  deps: Deps,
  ref: string,
  type: EntryType,
  where: (data: StreamEntryDoc["data"]) => boolean = () => true,
) {
  const found = await entriesOf(deps)
    .find({ refs: ref }, { projection: { user_id: 1, device_id: 1, type: 1, data: 1 } })
    .toArray();
  const named = found.filter((d) => d.type === type && where(d.data));
  return new Set(named.map((d) => `${d.user_id.toHexString()}:${d.device_id}`));
}

/** For several refs at once: `<ref>:<user>:<device>` for each entry of this type naming one of them. */
export async function devicesNamedAny(deps: Deps, refs: string[], type: EntryType) {
  const found = refs.length
    ? await entriesOf(deps)
        .find({ refs: { $in: refs } }, { projection: { user_id: 1, device_id: 1, type: 1, refs: 1 } })
        .toArray()
    : [];
  const named = new Set<string>();
  for (const d of found.filter((e) => e.type === type))
    for (const r of d.refs) named.add(`${r}:${d.user_id.toHexString()}:${d.device_id}`);
  return named;
}
