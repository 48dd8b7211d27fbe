import {
  MongoClientClosedError,
  MongoNetworkError,
  MongoNotConnectedError,
  MongoOperationTimeoutError,
  MongoServerClosedError,
  MongoServerError,
  MongoServerSelectionError,
  MongoTopologyClosedError,
} from "mongodb";
import { AppError } from "../http/errors.js";

/** What a client told to retry waits, in seconds: about what restarting a dead local store takes. */
export const STORE_RETRY_AFTER_SECONDS = 2;

// The driver's names for errors it does not export as classes.
const unavailableNames = new Set(["MongoWaitQueueTimeoutError", "MongoPoolClearedError"]);
// The store refusing writes for want of space: MongoDB's OutOfDiskSpace, SQLite's SQLITE_FULL as the
// local store (FerretDB) reports it, ENOSPC in any wording, and SQLite's write errors (a file size
// limit, a failing disk).
const diskFull = /disk is full|no space left|out of disk space|ENOSPC|disk I\/O error/i;

/**
 * True when `err` (or what caused it) says the store could not be reached, did not answer in time
 * or cannot write: the store is unavailable, which the caller may retry, not an internal error.
 */
export function isStoreUnavailable(err: unknown): boolean {
  return storeTrouble(err) !== null;
}

/** `isStoreUnavailable`, telling a full disk apart (readiness remembers it, see `Store.health`). */
export function storeTrouble(err: unknown): "unavailable" | "disk-full" | null {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (
      e instanceof MongoNetworkError || // includes timeouts and a cleared pool
      e instanceof MongoServerSelectionError ||
      e instanceof MongoOperationTimeoutError ||
      e instanceof MongoNotConnectedError ||
      e instanceof MongoTopologyClosedError ||
      e instanceof MongoClientClosedError ||
      e instanceof MongoServerClosedError ||
      unavailableNames.has(e.name)
    )
      return "unavailable";
    if (e instanceof MongoServerError && (e.code === 14031 || diskFull.test(e.message))) return "disk-full";
  }
  return null;
}

/** How long readiness stays down after a write failed for want of space. */
export const DISK_FULL_MEMORY_MS = 30_000;

/** Records a full disk on the store's health, for `/readyz`; true when `err` is store trouble at all. */
export function noteStoreTrouble(store: { health: { diskFullAt: number | null } }, now: Date, err: unknown) {
  const kind = storeTrouble(err);
  if (kind === "disk-full") store.health.diskFullAt = now.getTime();
  return kind !== null;
}

/** The one error store trouble becomes: 503 STORE_UNAVAILABLE with Retry-After. */
export const storeUnavailable = () =>
  new AppError("STORE_UNAVAILABLE", undefined, undefined, {
    "Retry-After": String(STORE_RETRY_AFTER_SECONDS),
  });

/**
 * Bounds how long `work` (a request, a socket event) can keep its client waiting on a store that
 * does not answer. Each operation is bounded by the driver, but a handler that meets a failure may
 * run a few more (a send undoing its steps), each waiting its own bound. Past `boundMs` the store
 * is pinged: if it does not answer within a second, the client hears 503 STORE_UNAVAILABLE now and
 * `work` finishes on its own (its result is dropped); a store that answers is only slow, and the
 * client keeps waiting for `work`.
 */
export async function withinStoreBound<T>(
  store: { ping(timeoutMs?: number): Promise<boolean> },
  boundMs: number,
  work: Promise<T>,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<typeof LATE>((r) => {
    timer = setTimeout(() => r(LATE), boundMs);
  });
  const first = await Promise.race([work, late]).finally(() => clearTimeout(timer));
  if (first !== LATE) return first as T;
  if (await store.ping(1_000)) return work;
  work.catch(() => {}); // answered already: its own failure has nobody left to tell
  throw storeUnavailable();
}
const LATE = Symbol("late");
