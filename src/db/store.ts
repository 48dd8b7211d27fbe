import { type CommandStartedEvent, type Db, MongoClient, MongoServerError } from "mongodb";
import type { Logger } from "../lib/logger.js";
import type { AnyOwned } from "./owned.js";

export interface Store {
  client: MongoClient;
  db: Db;
  /** Which optional MongoDB features this deployment has; the fallbacks are chosen from it. */
  capabilities: Capabilities;
  /**
   * When a write last failed for want of space (ms since the epoch, on the deps clock), or null. A
   * full disk fails writes on and off (SQLite reuses its log's room after each checkpoint), so
   * readiness stays down for a while after one such failure rather than trusting one probe.
   */
  health: { diskFullAt: number | null };
  ping(timeoutMs?: number): Promise<boolean>;
  close(): Promise<void>;
}

export interface Capabilities {
  ttlIndexes: boolean;
  /**
   * A tailable `awaitData` getMore returns as soon as a document arrives (MongoDB). The local
   * store (FerretDB) emulates the wait by re-reading the whole capped collection every 10 ms, so a
   * waiting tailer costs it CPU all the time (docs/stores.md): the feed tailer polls it instead.
   */
  awaitData: boolean;
}

export interface StoreOptions {
  /** Every collection's declaration; their indexes are created at connect. */
  inventory: readonly AnyOwned[];
  /**
   * How long one operation waits for the store's answer (the driver's socket timeout): a stalled
   * store fails requests in bounded time, as 503 STORE_UNAVAILABLE, rather than hanging them.
   */
  timeoutMs?: number;
  /** How long an operation waits for a reachable store and a free connection (selection, checkout, connect). */
  selectionTimeoutMs?: number;
  /**
   * Seconds past `expires_at` after which MongoDB's TTL monitor erases a document the expiry job
   * somehow missed; null creates no TTL index (tests on an injected clock, where wall-clock TTL
   * deletion would erase documents the test still counts as live).
   */
  ttlGraceSeconds?: number | null;
  /**
   * Sees every command the client sends (the test suite checks each query against the declared
   * indexes with it); without it, command monitoring stays off and costs nothing.
   */
  onCommand?: (event: CommandStartedEvent) => void;
}

/**
 * The driver's bounds (docs/durability.md): an operation waits at most `selectionMs` for a
 * reachable store and a pooled connection, then at most `operationMs` (STORE_TIMEOUT_MS) for its
 * answer. Either running out is store trouble: the request answers 503 STORE_UNAVAILABLE.
 */
export const storeTimeouts = { selectionMs: 3_000, operationMs: 10_000 };

export async function connectStore(uri: string, dbName: string, logger: Logger, o: StoreOptions) {
  const selectionMs = o.selectionTimeoutMs ?? storeTimeouts.selectionMs;
  const client = new MongoClient(uri, {
    serverSelectionTimeoutMS: selectionMs,
    connectTimeoutMS: selectionMs,
    socketTimeoutMS: o.timeoutMs ?? storeTimeouts.operationMs,
    maxPoolSize: 50,
    monitorCommands: o.onCommand !== undefined,
  });
  if (o.onCommand) client.on("commandStarted", o.onCommand);
  await client.connect();
  const db = client.db(dbName);
  const info = await db.admin().command({ buildInfo: 1 });
  const ferret = "ferretdbVersion" in info;
  // The local store has no TTL indexes: asking for one there would drop the plain `expires_at`
  // index and make it again at every start, which can fail half way (a restart that won't start).
  const grace = ferret ? null : (o.ttlGraceSeconds ?? null);
  const { ttlIndexes } = await ensureIndexes(db, o.inventory, grace, logger);
  return storeOf(client, db, { ttlIndexes, awaitData: !ferret });
}

/** Wraps a client without any I/O (the schema generator uses it without a database). */
export function storeOf(
  client: MongoClient,
  db: Db,
  capabilities: Capabilities = { ttlIndexes: false, awaitData: true },
): Store {
  return {
    client,
    db,
    capabilities,
    health: { diskFullAt: null },
    async ping(timeoutMs = 1_500) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<boolean>((r) => {
        timer = setTimeout(() => r(false), timeoutMs);
      });
      const ping = db.command({ ping: 1 }).then(
        () => true,
        () => false,
      );
      const ok = await Promise.race([ping, timeout]);
      clearTimeout(timer);
      return ok;
    },
    close: () => client.close(),
  };
}

/**
 * Creates every declared index, idempotently, and an `expires_at` index on each expiring
 * collection: the expiry job's query uses it. Where the store has TTL indexes and a grace is
 * configured, that index is a TTL index too, as a backstop that fires well after the job would
 * (except where the owner says a TTL deletion would strand data, see `Owned.ttlBackstop`).
 */
async function ensureIndexes(db: Db, inventory: readonly AnyOwned[], grace: number | null, logger: Logger) {
  for (const c of inventory) {
    // Capped collections are made so; one without any index is made too, so that no first read
    // (say, of the stored VAPID key) meets a collection the store is creating for a write.
    if (c.capped) await ensureCollection(db, c.name, { capped: true, ...c.capped });
    else if (!c.indexes.length && !c.expires) await ensureCollection(db, c.name, {});
  }
  for (const c of inventory) {
    for (const { key, options } of c.indexes) await db.collection(c.name).createIndex(key, options);
  }
  let ttlIndexes = grace !== null;
  for (const c of inventory.filter((c) => c.expires)) {
    const col = db.collection(c.name);
    if (ttlIndexes && c.ttlBackstop !== false) {
      try {
        await ensureTtl(db, c.name, grace!);
        continue;
      } catch (err) {
        if (!(err instanceof MongoServerError)) throw err;
        ttlIndexes = false; // the local store rejects expireAfterSeconds
      }
    }
    await col.createIndex({ expires_at: 1 }, { name: "expires_at_1" });
  }
  logger.info("store ready", {
    db: db.databaseName,
    expiry: ttlIndexes ? `expiry job, TTL indexes ${grace} s later as a backstop` : "expiry job only",
  });
  return { ttlIndexes };
}

/** Creates a collection unless it exists; another process starting at once may win the race. */
async function ensureCollection(
  db: Db,
  name: string,
  options: { capped?: boolean; size?: number; max?: number },
) {
  if (await db.listCollections({ name }, { nameOnly: true }).hasNext()) return;
  try {
    await db.createCollection(name, options);
  } catch (err) {
    if (!(err instanceof MongoServerError && err.code === 48)) throw err; // NamespaceExists
  }
}

async function ensureTtl(db: Db, name: string, grace: number) {
  const col = db.collection(name);
  const existing = (await col.indexes().catch(() => [])).find((i) => i.name === "expires_at_1");
  if (existing && existing.expireAfterSeconds !== grace) {
    // A changed grace: MongoDB changes a TTL index in place with collMod.
    if (existing.expireAfterSeconds !== undefined) {
      await db.command({ collMod: name, index: { name: "expires_at_1", expireAfterSeconds: grace } });
      return;
    }
    await col.dropIndex("expires_at_1");
  }
  await col.createIndex({ expires_at: 1 }, { name: "expires_at_1", expireAfterSeconds: grace });
}
