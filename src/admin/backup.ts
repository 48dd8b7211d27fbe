import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { promisify } from "node:util";
import { AdminError } from "./commands.js";

const run = promisify(execFile);

/** Where the embedded store keeps a database: FerretDB's SQLite backend, one file a database. */
export const databaseFile = (dataDir: string, dbName: string) => join(resolve(dataDir), `${dbName}.sqlite`);

export const mongoAdvice =
  "backup: this server stores its data in MongoDB (MONGODB_URI), which this command does not copy. " +
  'Take a consistent online backup with `mongodump --uri="$MONGODB_URI" --oplog --gzip --archive=FILE` ' +
  "(a replica set: --oplog makes the dump one point in time) and restore it into an empty deployment with " +
  '`mongorestore --uri="$MONGODB_URI" --oplogReplay --gzip --archive=FILE` (docs/storage.md).';

/** SQLite's own command-line shell; its `VACUUM INTO` is the online copy (docs/storage.md). */
async function sqlite(file: string, sql: string) {
  try {
    return (await run("sqlite3", ["-bail", file, sql], { maxBuffer: 1024 * 1024 })).stdout;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") {
      throw new AdminError("backup and restore need SQLite's command-line shell: install `sqlite3`");
    }
    throw new AdminError(`sqlite3: ${String((err as { stderr?: string }).stderr ?? err).trim()}`);
  }
}

const quote = (path: string) => `'${path.replaceAll("'", "''")}'`;

/**
 * A consistent snapshot of the embedded store's database while the server runs: `VACUUM INTO`
 * reads the whole database in one read transaction, which in WAL mode (the store's) neither waits
 * for writers nor makes them wait, and sees exactly the writes committed before it began. Written
 * to a temporary name first, so `file` is never a half-written copy.
 */
export async function backupEmbedded(dataDir: string, dbName: string, file: string) {
  const source = databaseFile(dataDir, dbName);
  if (!existsSync(source)) throw new AdminError(`nothing to back up: ${source} does not exist`);
  const target = resolve(file);
  if (existsSync(target)) throw new AdminError(`${target} exists already; name a new file`);
  mkdirSync(dirname(target), { recursive: true });
  const partial = `${target}.partial`;
  rmSync(partial, { force: true });
  await sqlite(source, `VACUUM INTO ${quote(partial)}`);
  renameSync(partial, target);
  return { file: target, bytes: statSync(target).size };
}

/**
 * Puts a snapshot in place as the database of an empty data folder (no server may hold it): checked
 * first (`PRAGMA integrity_check`), then copied under a temporary name and renamed.
 */
export async function restoreEmbedded(file: string, dataDir: string, dbName: string) {
  const source = resolve(file);
  if (!existsSync(source)) throw new AdminError(`no backup at ${source}`);
  const dir = resolve(dataDir);
  mkdirSync(dir, { recursive: true });
  const present = readdirSync(dir).filter((f) => f.endsWith(".sqlite") || f.includes(".sqlite-"));
  if (present.length)
    throw new AdminError(`restore needs an empty DATA_DIR; ${dir} holds ${present.join(", ")}`);
  const check = (await sqlite(source, "PRAGMA integrity_check")).trim();
  if (check !== "ok") throw new AdminError(`the backup is damaged: ${check.slice(0, 200)}`);
  const target = databaseFile(dir, dbName);
  const partial = `${target}.partial`;
  await sqlite(source, `VACUUM INTO ${quote(partial)}`);
  renameSync(partial, target);
  return { data_dir: dir, bytes: statSync(target).size };
}
