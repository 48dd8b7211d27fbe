import { ObjectId } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { withWriter } from "../../src/compose.js";
import { settleAppends } from "../../src/delivery/append.js";
import type { EntryInput } from "../../src/delivery/change.js";
import { acknowledge, currentPosition, readAfter } from "../../src/delivery/repo.js";
import type { Deps } from "../../src/deps.js";
import { sweepOnce } from "../../src/jobs/jobs.js";
import { type Hush, signUp, startHush } from "../helpers/hush.js";
import { connect } from "../helpers/ws.js";

/** Entries straight into the streams, past the door (deliver.ts): the writer alone. */
const append = (deps: Deps, inputs: readonly EntryInput[]) => deps.writer.append(inputs);

let h: Hush;
beforeAll(async () => {
  h = await startHush();
});
afterAll(() => h?.close());

/** A test-only producer: an entry naming `n`, for one device. */
const entry = (userId: ObjectId, deviceId: string, n: number): EntryInput => ({
  user_id: userId,
  device_id: deviceId,
  type: "contacts_updated",
  data: { user_id: new ObjectId().toHexString(), status: "accepted", display_name: `n${n}` },
  refs: [],
});
const nameOf = (e: { data: unknown }) => (e.data as { display_name: string }).display_name;
const device = () => ({ userId: new ObjectId(), deviceId: `d-${new ObjectId().toHexString().slice(-6)}` });

/**
 * Deps whose first `method` call on `collection` stops until released: how a test puts another
 * writer, or an acknowledgement, between a writer's head read and its insert.
 */
function pauseFirst(deps: Deps, collection: string, method: string) {
  let arrive!: () => void;
  let release!: () => void;
  const arrived = new Promise<void>((r) => {
    arrive = r;
  });
  const released = new Promise<void>((r) => {
    release = r;
  });
  let paused = false;
  const bind = <T extends object>(target: T, p: string | symbol) => {
    const v = Reflect.get(target, p);
    return typeof v === "function" ? v.bind(target) : v;
  };
  const db = new Proxy(deps.store.db, {
    get(t, p) {
      if (p !== "collection") return bind(t, p);
      return (name: string) => {
        const col = t.collection(name);
        if (name !== collection) return col;
        return new Proxy(col, {
          get(ct, cp) {
            const v = bind(ct, cp);
            if (cp !== method || paused) return v;
            return async (...args: unknown[]) => {
              if (!paused) {
                paused = true;
                arrive();
                await released;
              }
              return v(...args);
            };
          },
        });
      };
    },
  });
  // Another process: its own store client, and so its own writer.
  return { deps: withWriter({ ...deps, store: { ...deps.store, db } }), arrived, release };
}

describe("a device's stream", () => {
  it("concurrent appends get positions 1..N, each once, each writer's entries in its order", async () => {
    const d = device();
    const writers = Array.from({ length: 30 }, (_, w) =>
      append(
        h.deps,
        [0, 1, 2].map((i) => entry(d.userId, d.deviceId, w * 10 + i)),
      ),
    );
    const placed = await Promise.all(writers);
    const positions = placed.flat().map((p) => p.position);
    expect(positions.sort((a, b) => a - b)).toEqual(Array.from({ length: 90 }, (_, i) => i + 1));
    for (const mine of placed) {
      const ps = mine.map((p) => p.position);
      expect(ps).toEqual([...ps].sort((a, b) => a - b));
    }
    const { entries } = await readAfter(h.deps, d.userId, d.deviceId, 0, 500);
    expect(entries.map((e) => e.position)).toEqual(Array.from({ length: 90 }, (_, i) => i + 1));
    expect(await currentPosition(h.deps, d.userId, d.deviceId)).toBe(90);
  });

  it("a reader never sees position N+1 while N is missing, however the writers interleave", async () => {
    const d = device();
    let done = false;
    const snapshots: number[][] = [];
    const reader = (async () => {
      while (!done) {
        const { entries } = await readAfter(h.deps, d.userId, d.deviceId, 0, 500);
        snapshots.push(entries.map((e) => e.position));
      }
    })();
    await Promise.all(Array.from({ length: 60 }, (_, i) => append(h.deps, [entry(d.userId, d.deviceId, i)])));
    done = true;
    await reader;
    expect(snapshots.length).toBeGreaterThan(1);
    for (const s of snapshots) expect(s).toEqual(Array.from({ length: s.length }, (_, i) => i + 1));
  });

  it("whoever writes first gets the lower position, and a live socket sees them in that order", async () => {
    const a = await signUp(h);
    const { client } = await connect(h, a.token);
    const userId = new ObjectId(a.id);
    await append(h.deps, [entry(userId, a.deviceId, 0)]);
    // The slow writer reads the head (next: 2), then stops before its insert.
    const slow = pauseFirst(h.deps, "stream_entries", "insertMany");
    const slowDone = append(slow.deps, [entry(userId, a.deviceId, 1)]);
    await slow.arrived;
    // Meanwhile a fast writer takes 2 and is delivered.
    const [fast] = await append(h.deps, [entry(userId, a.deviceId, 2)]);
    expect(fast!.position).toBe(2);
    slow.release();
    const [late] = await slowDone;
    expect(late!.position).toBe(3);
    const live = [await client.next("contacts_updated"), await client.next("contacts_updated")];
    const third = await client.next("contacts_updated");
    expect([...live, third].map((e) => [e.position, nameOf(e)])).toEqual([
      [1, "n0"],
      [2, "n2"],
      [3, "n1"],
    ]);
    await client.close();
  });

  it("an append racing an acknowledgement never lands at or below the acknowledged position", async () => {
    const d = device();
    await append(h.deps, [entry(d.userId, d.deviceId, 1), entry(d.userId, d.deviceId, 2)]);
    // The slow writer read the head (next: 3) and waits before inserting.
    const slow = pauseFirst(h.deps, "stream_entries", "insertMany");
    const slowDone = append(slow.deps, [entry(d.userId, d.deviceId, 99)]);
    await slow.arrived;
    // Another writer takes 3; the device stores it and acknowledges 3, which frees positions 1-3.
    await append(h.deps, [entry(d.userId, d.deviceId, 3)]);
    expect(await acknowledge(h.deps, d.userId, d.deviceId, 3)).toBe(3);
    slow.release();
    // Its insert at 3 succeeds (the position was freed), but the head says 3 was acknowledged:
    // it takes the entry back and lands after, where the device will look.
    const [placed] = await slowDone;
    expect(placed!.position).toBe(4);
    const { entries } = await readAfter(h.deps, d.userId, d.deviceId, 0, 10);
    expect(entries.map((e) => [e.position, nameOf(e)])).toEqual([[4, "n99"]]);
  });

  it("acknowledging drops entries up to that point, never past the newest position", async () => {
    const d = device();
    await append(
      h.deps,
      [1, 2, 3].map((n) => entry(d.userId, d.deviceId, n)),
    );
    expect(await acknowledge(h.deps, d.userId, d.deviceId, 2)).toBe(2);
    expect((await readAfter(h.deps, d.userId, d.deviceId, 0, 10)).entries.map((e) => e.position)).toEqual([
      3,
    ]);
    expect(await acknowledge(h.deps, d.userId, d.deviceId, 1_000)).toBe(3);
    expect((await readAfter(h.deps, d.userId, d.deviceId, 0, 10)).entries).toEqual([]);
    // Positions go on from there.
    const [next] = await append(h.deps, [entry(d.userId, d.deviceId, 4)]);
    expect(next!.position).toBe(4);
    expect(await currentPosition(h.deps, d.userId, d.deviceId)).toBe(4);
  });

  it("keeps unacknowledged entries for the retention, then the expiry job erases them", async () => {
    const d = device();
    await append(h.deps, [entry(d.userId, d.deviceId, 1)]);
    h.clock.advance(h.deps.config.STREAM_RETENTION_SECONDS - 60);
    await sweepOnce(h.deps);
    expect((await readAfter(h.deps, d.userId, d.deviceId, 0, 10)).entries).toHaveLength(1);
    h.clock.advance(120);
    await sweepOnce(h.deps);
    expect((await readAfter(h.deps, d.userId, d.deviceId, 0, 10)).entries).toEqual([]);
    // The position is not reused.
    const [next] = await append(h.deps, [entry(d.userId, d.deviceId, 2)]);
    expect(next!.position).toBe(2);
  });

  it("a head left behind (its raise lost, as in a crash) only costs probes: nothing is overwritten", async () => {
    const d = device();
    await append(
      h.deps,
      Array.from({ length: 37 }, (_, n) => entry(d.userId, d.deviceId, n)),
    );
    await settleAppends(h.deps);
    await h.raw("stream_heads").updateOne({ _id: `${d.userId.toHexString()}:${d.deviceId}` } as never, {
      $set: { last: 3 },
    });
    expect(await currentPosition(h.deps, d.userId, d.deviceId)).toBe(37);
    // A writer in another process, which has no hint of its own, finds the first free position.
    const other = withWriter({ ...h.deps, store: { ...h.deps.store } });
    const [placed] = await append(other, [entry(d.userId, d.deviceId, 99)]);
    expect(placed!.position).toBe(38);
    expect((await readAfter(h.deps, d.userId, d.deviceId, 36, 10)).entries.map(nameOf)).toEqual([
      "n36",
      "n99",
    ]);
  });

  it("pages in order with has_more", async () => {
    const d = device();
    await append(
      h.deps,
      Array.from({ length: 7 }, (_, n) => entry(d.userId, d.deviceId, n)),
    );
    const first = await readAfter(h.deps, d.userId, d.deviceId, 0, 3);
    expect(first.entries.map((e) => e.position)).toEqual([1, 2, 3]);
    expect(first.has_more).toBe(true);
    const last = await readAfter(h.deps, d.userId, d.deviceId, 6, 3);
    expect(last.entries.map((e) => e.position)).toEqual([7]);
    expect(last.has_more).toBe(false);
  });
});
