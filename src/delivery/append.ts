import { type Collection, MongoBulkWriteError, type ObjectId } from "mongodb";
import type { Deps } from "../deps.js";
import { addSeconds } from "../lib/clock.js";
import type { EntryInput, Placed, StreamWriter } from "./change.js";
import {
  entryId,
  firstFree,
  headKey,
  type StreamEntryDoc,
  streamEntries,
  streamHeads,
  visible,
} from "./repo.js";
import { wakeSleepers } from "./wake.js";

/*
 * Step 3 of delivery (deliver.ts lists them all): appending to device streams. A position is claimed by inserting the entry under the _id
 * `<user>:<device>:<position>`: the insert is the allocation, so a position exists exactly when its
 * entry is written, and nobody can see position N+1 while N is claimed but unwritten. A writer
 * tries the position after the device's head (a hint it raises after each insert) and, when the
 * unique _id says it is taken, the next one; so it only ever lands on N+1 after N was written. The
 * argument in full is in docs/realtime.md; test/integration/stream.test.ts forces the races.
 */

const entriesOf = (deps: Deps) => streamEntries.col(deps.store.db);
const headsOf = (deps: Deps) => streamHeads.col(deps.store.db);

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
 * Resolves once this process's appends, head raises and feed notices have all been written:
 * shutdown waits for it before the store closes.
 */
export const settleAppends = (deps: Deps) => deps.writer.settle();

const MAX_HINTS = 10_000;
const RAISE_AFTER_MS = 250;

/**
 * A process's appends (deps.writer, made once by src/compose.ts), written in batches: while one
 * batch is being written, the next ones queue, and the next write takes them all (group commit). On the way to delivery a batch costs
 * one insert and one read of the heads whatever its size, so the rate grows with the load, and
 * appends in one process never race for a position (processes still can: the unique _id settles
 * that). The heads' `last` hints are raised in the background, in one write for whatever batches
 * went by meanwhile, and the notice to the other processes is written after local delivery.
 */
export class Writer implements StreamWriter {
  private waiting: { inputs: readonly EntryInput[]; resolve(p: Placed[]): void; reject(e: unknown): void }[] =
    [];
  private running = false;
  /** Per device, the highest position known taken or acknowledged: saves reading the head. */
  private hints = new Map<string, number>();
  /** Heads to raise, with the position to raise each to. */
  private dirty = new Map<string, { user_id: ObjectId; device_id: string; last: number }>();
  private raising = false;
  private raiseTimer: NodeJS.Timeout | undefined;
  /** Background work (head raises, feed notices) still in flight. */
  private background = new Set<Promise<unknown>>();

  constructor(private readonly deps: Deps) {}

  async settle() {
    while (this.running || this.background.size || this.raiseTimer) {
      if (this.raiseTimer) this.raiseNow();
      await Promise.all([...this.background]);
      if (this.running) await new Promise((r) => setTimeout(r, 5));
    }
  }

  /**
   * Heads are raised a little after the writes, for everything written meanwhile: a raise is a
   * write per device, which at once would queue behind it the next batch's insert (the store
   * writes one thing at a time), and this process needs no head (it has its hints).
   */
  private scheduleRaise() {
    this.raiseTimer ??= setTimeout(() => this.raiseNow(), RAISE_AFTER_MS);
    this.raiseTimer.unref?.();
  }

  private raiseNow() {
    if (this.raiseTimer) clearTimeout(this.raiseTimer);
    this.raiseTimer = undefined;
    this.track(this.raiseHeads());
  }

  private track(p: Promise<unknown>) {
    this.background.add(p);
    void p.finally(() => this.background.delete(p));
  }

  /** Appends entries, each device's in the order given; resolves with where each input went. */
  append(inputs: readonly EntryInput[]) {
    if (!inputs.length) return Promise.resolve([]);
    return new Promise<Placed[]>((resolve, reject) => {
      this.waiting.push({ inputs, resolve, reject });
      if (!this.running) void this.run();
    });
  }

  private async run() {
    this.running = true;
    while (this.waiting.length) {
      const batch = this.waiting.splice(0);
      try {
        const placed = await this.write(batch.flatMap((b) => b.inputs));
        let at = 0;
        for (const b of batch) {
          b.resolve(placed.slice(at, at + b.inputs.length));
          at += b.inputs.length;
        }
      } catch (err) {
        this.hints.clear();
        for (const b of batch) b.reject(err);
      }
    }
    this.running = false;
  }

  private async write(inputs: EntryInput[]): Promise<Placed[]> {
    const deps = this.deps;
    const queues = new Map<string, Queue>();
    const slots: { q: Queue; i: number }[] = [];
    for (const input of inputs) {
      const key = headKey(input.user_id, input.device_id);
      const q = queues.get(key) ?? {
        key,
        user_id: input.user_id,
        device_id: input.device_id,
        inputs: [],
        placed: [],
        next: (this.hints.get(key) ?? -1) + 1,
      };
      slots.push({ q, i: q.inputs.push(input) - 1 });
      queues.set(key, q);
    }
    const all = [...queues.values()];
    await advance(
      deps,
      all.filter((q) => q.next === 0),
    );
    let pending = all;
    while (pending.length) {
      await placeAll(deps, pending);
      pending = await retreatBelowAck(deps, pending);
    }
    if (this.hints.size > MAX_HINTS) this.hints.clear();
    for (const q of all) {
      this.hints.set(q.key, q.next - 1);
      const last = Math.max(q.next - 1, this.dirty.get(q.key)?.last ?? 0);
      this.dirty.set(q.key, { user_id: q.user_id, device_id: q.device_id, last });
    }
    this.scheduleRaise();
    // In input order: placed[i] is where inputs[i] went.
    const placed = slots.map(({ q, i }) => q.placed[i]!);
    const stream = deps.bus.keys.stream;
    const now = deps.clock.now();
    // Steps 4 and 5: published to every process (bus.ts); this process's sockets (sockets.ts) hear
    // at once, and the feed write (never throws) is not waited for.
    this.track(
      deps.bus.publish({
        kind: "entries",
        targets: placed.map((p, i) => ({
          k: stream(p.user_id.toHexString(), p.device_id),
          p: p.position,
          entry: visible({ ...inputs[i]!, position: p.position }, now),
        })),
      }),
    );
    // Step 6: devices with no socket anywhere may be owed a Web Push wake-up (wake.ts), decided
    // off the send's path.
    wakeSleepers(
      deps,
      placed.map((p, i) => ({ ...p, type: inputs[i]!.type, data: inputs[i]!.data })),
    );
    return placed;
  }

  /**
   * Raises the heads of the devices written since the last raise, in one write, until none are
   * left. A raise that fails is left for the next batch: a head that trails only costs readers and
   * other processes a few `_id` probes (`firstFree`, `currentPosition`).
   */
  private async raiseHeads() {
    if (this.raising) return;
    this.raising = true;
    try {
      while (this.dirty.size) {
        const heads = [...this.dirty.values()];
        this.dirty.clear();
        await raiseHeads(this.deps, heads);
      }
    } catch (err) {
      this.deps.logger.warn("stream heads not raised; they trail until the next append", { error: err });
    } finally {
      this.raising = false;
    }
  }
}

/** Moves each queue's next candidate past what its head says is written or acknowledged. */
async function advance(deps: Deps, queues: Queue[]) {
  if (!queues.length) return;
  const heads = await headsOf(deps)
    .find({ _id: { $in: queues.map((q) => q.key) } })
    .toArray();
  const byKey = new Map(heads.map((h) => [h._id, h]));
  for (const q of queues) {
    const h = byKey.get(q.key);
    q.next = Math.max(q.next, 1, (h?.last ?? 0) + 1, (h?.acked ?? 0) + 1);
  }
  // A device's first entries: its head is made now, before them, so that the later raises (which
  // never create one) cannot bring a head back after the device or its account was erased.
  const missing = queues.filter((q) => !byKey.has(q.key));
  if (missing.length) {
    const docs = missing.map((q) => ({
      _id: q.key,
      user_id: q.user_id,
      device_id: q.device_id,
      last: 0,
      acked: 0,
    }));
    await headsOf(deps)
      .insertMany(docs, { ordered: false })
      .catch((err) => {
        if (!(err instanceof MongoBulkWriteError) || writeErrorsOf(err).some((e) => e.code !== 11000))
          throw err;
      });
  }
}

/**
 * Inserts every queue's entries at its next positions. Devices with one entry go in one unordered
 * insert; a device with several gets an ordered insert of its own, which stops at the first taken
 * position, so its entries never land out of order.
 */
async function placeAll(deps: Deps, queues: Queue[]) {
  const now = deps.clock.now();
  const expires_at = addSeconds(now, deps.config.STREAM_RETENTION_SECONDS);
  const doc = (q: Queue, offset: number): StreamEntryDoc => {
    const item = q.inputs[q.placed.length + offset]!;
    const position = q.next + offset;
    return {
      _id: entryId(q.user_id, q.device_id, position),
      user_id: q.user_id,
      device_id: q.device_id,
      position,
      type: item.type,
      data: item.data,
      refs: item.refs,
      ...(item.hide_at ? { hide_at: item.hide_at } : {}),
      created_at: now,
      expires_at,
    };
  };
  const place = (q: Queue, count: number) => {
    for (let i = 0; i < count; i++)
      q.placed.push({ user_id: q.user_id, device_id: q.device_id, position: q.next + i });
    q.next += count;
  };
  const col = entriesOf(deps);
  let round = queues.filter(unplaced);
  while (round.length) {
    const left = (q: Queue) => q.inputs.length - q.placed.length;
    const singles = round.filter((q) => left(q) === 1);
    const conflicted: Queue[] = [];
    const jobs = round
      .filter((q) => left(q) > 1)
      .map(async (q) => {
        const docs = Array.from({ length: left(q) }, (_, i) => doc(q, i));
        const written = await insertInOrder(col, docs);
        place(q, written);
        if (written < docs.length) {
          conflicted.push(q);
          q.next++;
        }
      });
    if (singles.length) {
      jobs.push(
        (async () => {
          const taken = await insertClaims(
            col,
            singles.map((q) => doc(q, 0)),
          );
          singles.forEach((q, i) => {
            if (!taken.has(i)) place(q, 1);
            else {
              conflicted.push(q);
              q.next++;
            }
          });
        })(),
      );
    }
    await Promise.all(jobs);
    // Someone else wrote there: skip past what they wrote, by their head and by probing.
    if (conflicted.length) {
      await advance(deps, conflicted);
      await Promise.all(
        conflicted.map(async (q) => (q.next = await firstFree(deps, q.user_id, q.device_id, q.next))),
      );
    }
    round = round.filter(unplaced);
  }
}

const writeErrorsOf = (err: MongoBulkWriteError) =>
  Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];

/** Inserts each doc; returns the indexes whose _id (their position) was already taken. */
async function insertClaims(col: Collection<StreamEntryDoc>, docs: StreamEntryDoc[]) {
  const taken = new Set<number>();
  try {
    await col.insertMany(docs, { ordered: false });
  } catch (err) {
    if (!(err instanceof MongoBulkWriteError)) throw err;
    for (const e of writeErrorsOf(err)) {
      if (e.code !== 11000) throw err;
      taken.add(e.index);
    }
  }
  return taken;
}

/** Inserts docs in order until one's position is taken; returns how many were written. */
async function insertInOrder(col: Collection<StreamEntryDoc>, docs: StreamEntryDoc[]) {
  try {
    await col.insertMany(docs, { ordered: true });
    return docs.length;
  } catch (err) {
    if (!(err instanceof MongoBulkWriteError)) throw err;
    const [first] = writeErrorsOf(err);
    if (first?.code !== 11000) throw err;
    return first.index;
  }
}

/**
 * Checks each device has not acknowledged past what was just placed: acknowledged entries are
 * deleted, and a writer whose head read came before that could have claimed a freed position the
 * device had already seen. Such a writer takes its entries back and places them again after the
 * acknowledged position. Returns those queues.
 */
async function retreatBelowAck(deps: Deps, queues: Queue[]): Promise<Queue[]> {
  const heads = await headsOf(deps)
    .find({ _id: { $in: queues.map((q) => q.key) } })
    .toArray();
  const byKey = new Map(heads.map((h) => [h._id, h]));
  const again: Queue[] = [];
  for (const q of queues) {
    const head = byKey.get(q.key);
    if (!head || head.acked < Math.min(...q.placed.map((p) => p.position))) continue;
    await entriesOf(deps).deleteMany({
      _id: { $in: q.placed.map((p) => entryId(q.user_id, q.device_id, p.position)) },
    });
    q.placed = [];
    q.next = Math.max(head.last, head.acked) + 1;
    again.push(q);
  }
  return again;
}

/**
 * One write for all the devices: each head's `last` goes up to what was placed, never down. It
 * creates no head (`advance` did, before the first entries): a raise that comes after the device
 * was erased finds nothing to raise.
 */
async function raiseHeads(deps: Deps, heads: { user_id: ObjectId; device_id: string; last: number }[]) {
  const ops = heads.map((h) => ({
    updateOne: { filter: { _id: headKey(h.user_id, h.device_id) }, update: { $max: { last: h.last } } },
  }));
  await headsOf(deps).bulkWrite(ops, { ordered: false });
}
