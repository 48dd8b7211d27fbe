import { type CommandStartedEvent, type Db, MongoClient, MongoServerError } from "mongodb";
import type { Logger } from "../shared/logger.js";
import { type Collections, collectionsOf, expiringCollections, indexes } from "./collections.js";

export interface Store {
  client: MongoClient;
  db: Db;
  col: Collections;
  /** Which optional MongoDB features this deployment has; the fallbacks are chosen from it. */
  capabilities: { ttlIndexes: boolean };
  ping(timeoutMs?: number): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * `onCommand` sees every command the client sends (the test suite checks each query against the
 * declared indexes with it); without it, command monitoring stays off and costs nothing.
 */
export async function connectStore(
  uri: string,
  dbName: string,
  logger: Logger,
  timeoutMs = 5_000,
  onCommand?: (event: CommandStartedEvent) => void,
): Promise<Store> {
  const client = new MongoClient(uri, {
    serverSelectionTimeoutMS: timeoutMs,
    connectTimeoutMS: timeoutMs,
    maxPoolSize: 50,
    monitorCommands: onCommand !== undefined,
  });
  if (onCommand) client.on("commandStarted", onCommand);
  await client.connect();
  const db = client.db(dbName);
  const capabilities = await ensureIndexes(db, logger);
  return storeOf(client, db, capabilities);
}

/** Wraps a client without any I/O (the schema generator uses it without a database). */
export function storeOf(client: MongoClient, db: Db, capabilities = { ttlIndexes: false }): Store {
  return {
    client,
    db,
    col: collectionsOf(db),
    capabilities,
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

/** Creates every index, idempotently. TTL indexes are a MongoDB-only backstop: the sweeper job erases either way. */
async function ensureIndexes(db: Db, logger: Logger) {
  for (const { collection, key, options } of indexes) {
    await db.collection(collection).createIndex(key, options);
  }
  let ttlIndexes = true;
  for (const name of expiringCollections) {
    try {
      await db
        .collection(name)
        .createIndex({ expires_at: 1 }, { expireAfterSeconds: 0, name: "expires_at_ttl" });
    } catch (err) {
      if (!(err instanceof MongoServerError)) throw err;
      ttlIndexes = false;
      await db.collection(name).createIndex({ expires_at: 1 }, { name: "expires_at_1" });
    }
  }
  logger.info("store ready", {
    db: db.databaseName,
    expiry: ttlIndexes ? "TTL indexes + sweeper job" : "sweeper job only (store has no TTL indexes)",
  });
  return { ttlIndexes };
}
