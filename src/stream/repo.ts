import { type Collection, MongoBulkWriteError, type ObjectId } from "mongodb";
import { isDuplicateKey } from "../db/ids.js";
import { never, owned } from "../db/owned.js";
import type { Deps } from "../deps.js";
import { addSeconds } from "../shared/clock.js";
import type { EntryData, EntryType, StreamEntryBody } from "./schemas.js";

/*
 * One ordered stream per device. A position is claimed by inserting the entry under the _id
 * `<user>:<device>:<position>`: the insert is the allocation, so a position exists exactly when
 * its entry is written, and nobody can see position N+1 while N is claimed but unwritten. A writer
 * tries the position after the device's head (a hint it raises after each insert) and, when the
 * unique _id says it is taken, the next one; so it only ever lands on N+1 after N was written. See
 * docs/realtime.md for the argument in full and test/integration/stream.test.ts for the races.
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
  owner: "stream",
  holds:
    "one entry of a device's ordered update stream (contact changes, identity changes; messages, edits, deletions, receipts and membership changes once they exist), with its position",
  indexes: [{ key: { user_id: 1, device_id: 1, position: 1 } }, { key: { refs: 1 } }],
  expires: true,
  onExpiry: "erased once the retention (`STREAM_RETENTION_SECONDS`, 30 days) passes unacknowledged",
  onAccountDeletion:
    "the account's devices' streams erased; entries in others' streams that name it become `erased` (content dropped, position kept). Device removal does the same for the device",
  eraseAccount: async (col, a) => {
    await col.deleteMany({ user_id: a._id });
    await redact(col, a._id.toHexString());
  },
  eraseDevice: async (col, userId, deviceId) => {
    await col.deleteMany({ user_id: userId, device_id: deviceId });
    await redact(col, `${userId.toHexString()}:${deviceId}`);
  },
});
export const streamHeads = owned<StreamHeadDoc>({
  name: "stream_heads",
  owner: "stream",
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
  col.updateMany({ refs: ref }, { $set: { type: "erased", data: {}, refs: [] } });

const entriesOf = (deps: Deps) => streamEntries.col(deps.store.db);
const headsOf = (deps: Deps) => streamHeads.col(deps.store.db);

export const headKey = (userId: ObjectId, deviceId: string) => `${userId.toHexString()}:${deviceId}`;
const entryId = (userId: ObjectId, deviceId: string, position: number) =>
  `${headKey(userId, deviceId)}:${position}`;

/** One entry to append: for one device, of one type. */
export type EntryInput = {
  [T in EntryType]: {
    user_id: ObjectId;
    device_id: string;
    type: T;
    data: EntryData<T>;
    /** Whom and what the entry names, for erasure (see StreamEntryDoc.refs). */
    refs: string[];
  };
}[EntryType];

export interface Placed {
  user_id: ObjectId;
  device_id: string;
  position: number;
}

/** One device's share of an append: its inputs in order, the first `placed.length` of them written. */
interface Queue {
  key: string;
  user_id: ObjectId;
  device_id: string;
  inputs: EntryInput[];
  placed: Placed[];
  next: number;
}
const unplaced = (q: Queue) => q.placed.length < q.inputs.length;

/**
 * Appends entries to their devices' streams, each device's in the order given, and tells every
 * server process (deps.bus) so that live sockets get them. The one way anything enters a stream.
 */
export async function append(deps: Deps, inputs: readonly EntryInput[]): Promise<Placed[]> {
  if (!inputs.length) return [];
  const queues = new Map<string, Queue>();
  for (const input of inputs) {
    const key = headKey(input.user_id, input.device_id);
    const q = queues.get(key) ?? {
      key,
      user_id: input.user_id,
      device_id: input.device_id,
      inputs: [],
      placed: [],
      next: 1,
    };
    q.inputs.push(input);
    queues.set(key, q);
  }
  const all = [...queues.values()];
  await advance(deps, all);
  let pending = all;
  while (pending.length) {
    await placeAll(deps, pending);
    pending = await retreatBelowAck(deps, pending);
  }
  const placed = all.flatMap((q) => q.placed);
  const stream = deps.bus.keys.stream;
  await deps.bus.publish({
    kind: "entries",
    targets: placed.map((p) => ({ k: stream(p.user_id.toHexString(), p.device_id), p: p.position })),
  });
  return placed;
}

/** Moves each queue's next candidate past what its head says is written or acknowledged. */
async function advance(deps: Deps, queues: Queue[]) {
  const heads = await headsOf(deps)
    .find({ _id: { $in: queues.map((q) => q.key) } })
    .toArray();
  const byKey = new Map(heads.map((h) => [h._id, h]));
  for (const q of queues) {
    const h = byKey.get(q.key);
    if (h) q.next = Math.max(q.next, h.last + 1, h.acked + 1);
  }
}

/** Inserts every queue's items, one per device a round so each device's keep their order. */
async function placeAll(deps: Deps, queues: Queue[]) {
  const now = deps.clock.now();
  const expires_at = addSeconds(now, deps.config.STREAM_RETENTION_SECONDS);
  let round = queues.filter(unplaced);
  while (round.length) {
    const docs = round.map((q): StreamEntryDoc => {
      const item = q.inputs[q.placed.length]!;
      return {
        _id: entryId(q.user_id, q.device_id, q.next),
        user_id: q.user_id,
        device_id: q.device_id,
        position: q.next,
        type: item.type,
        data: item.data,
        refs: item.refs,
        created_at: now,
        expires_at,
      };
    });
    const taken = await insertClaims(entriesOf(deps), docs);
    const conflicted: Queue[] = [];
    round.forEach((q, i) => {
      if (taken.has(i)) conflicted.push(q);
      else q.placed.push({ user_id: q.user_id, device_id: q.device_id, position: q.next });
      q.next++;
    });
    // Someone else wrote there: their head update tells how far to skip instead of one by one.
    if (conflicted.length) await advance(deps, conflicted);
    round = round.filter(unplaced);
  }
}

/** Inserts each doc; returns the indexes whose _id (their position) was already taken. */
async function insertClaims(col: Collection<StreamEntryDoc>, docs: StreamEntryDoc[]) {
  const taken = new Set<number>();
  try {
    await col.insertMany(docs, { ordered: false });
  } catch (err) {
    if (!(err instanceof MongoBulkWriteError)) throw err;
    const errors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
    for (const e of errors) {
      if (e.code !== 11000) throw err;
      taken.add(e.index);
    }
  }
  return taken;
}

/**
 * Raises each head past what was placed, then checks the device has not acknowledged past it
 * meanwhile: acknowledged entries are deleted, and a writer whose head read came before that
 * could have claimed a freed position the device had already seen. Such a writer takes its
 * entries back and places them again after the acknowledged position. Returns those queues.
 */
async function retreatBelowAck(deps: Deps, queues: Queue[]): Promise<Queue[]> {
  const again: Queue[] = [];
  await Promise.all(
    queues.map(async (q) => {
      const top = Math.max(...q.placed.map((p) => p.position));
      const head = await raiseHead(deps, q, top);
      if (head.acked < Math.min(...q.placed.map((p) => p.position))) return;
      await entriesOf(deps).deleteMany({
        _id: { $in: q.placed.map((p) => entryId(q.user_id, q.device_id, p.position)) },
      });
      q.placed = [];
      q.next = Math.max(head.last, head.acked) + 1;
      again.push(q);
    }),
  );
  return again;
}

async function raiseHead(deps: Deps, q: Queue, top: number): Promise<StreamHeadDoc> {
  const update = {
    $max: { last: top },
    $setOnInsert: { user_id: q.user_id, device_id: q.device_id, acked: 0 },
  };
  for (let attempt = 0; ; attempt++) {
    try {
      const head = await headsOf(deps).findOneAndUpdate({ _id: q.key }, update, {
        upsert: true,
        returnDocument: "after",
      });
      if (head) return head;
    } catch (err) {
      // Two first appends for a device raced to create its head: the loser updates the winner's.
      if (!isDuplicateKey(err) || attempt > 2) throw err;
    }
  }
}

const toBody = (d: StreamEntryDoc) =>
  ({ type: d.type, position: d.position, data: d.data }) as StreamEntryBody;

/** The device's newest written position: its head, plus any appends still raising it. */
export async function currentPosition(deps: Deps, userId: ObjectId, deviceId: string): Promise<number> {
  const head = await headsOf(deps).findOne({ _id: headKey(userId, deviceId) });
  let p = head ? Math.max(head.last, head.acked) : 0;
  while (await entriesOf(deps).findOne({ _id: entryId(userId, deviceId, p + 1) }, { projection: { _id: 1 } }))
    p++;
  return p;
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
    return found.filter((d) => d !== null).map(toBody);
  }
  const docs = await entriesOf(deps)
    .find({ user_id: userId, device_id: deviceId, position: { $gt: after, $lte: upTo } })
    .sort({ position: 1 })
    .toArray();
  return docs.map(toBody);
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
  return { entries: docs.slice(0, limit).map(toBody), has_more: docs.length > limit };
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
