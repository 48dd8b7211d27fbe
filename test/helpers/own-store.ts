import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Db, MongoClient, type MongoClientOptions } from "mongodb";
import { afterAll, beforeAll } from "vitest";
import { type LocalStore, type LocalStoreOptions, startLocalStore } from "../../src/local-store.js";

/**
 * A local store of the calling test file's own (not the suite's store, which may be a MongoDB), in
 * a fresh folder, with a client and its database `name`: started before the file's tests, stopped
 * and its folder erased after. Its fields are set once the file's first beforeAll has run.
 */
export function ownStore(name: string, client: MongoClientOptions = {}, store: LocalStoreOptions = {}) {
  const own = {} as { store: LocalStore; client: MongoClient; db: Db };
  let dir = "";
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), `hush-store-${name}-`));
    own.store = await startLocalStore(dir, undefined, store);
    own.client = await new MongoClient(own.store.uri, client).connect();
    own.db = own.client.db(name);
  });
  afterAll(async () => {
    await own.client?.close();
    await own.store?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  return own;
}
