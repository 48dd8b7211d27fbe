import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
} from "node:fs";
import { createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

/**
 * The embedded default store: FerretDB (SQLite backend) built from the Go module proxy by the small
 * program in store/, cached under .cache/ and reused while its sources are unchanged.
 *
 * FerretDB's SQLite backend is patched at build time (docs/stores.md, "Filter pushdown"): the
 * module is vendored into a scratch copy of store/, store/_ferretdb_patch/hush_pushdown.go is added
 * to its internal/backends/sqlite package and sqlite.patch makes that package call it; hush_find.go is
 * added to internal/handler and handler.patch makes find and explain call it (sorts and limits
 * answered by SQLite), and fixes its update command holding a SQLite connection per statement; the
 * patches named below make reading a document cheaper ("Reading documents"). `go` ignores
 * directories starting with "_", so store/ itself never compiles the patch's files.
 */
const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const storeDir = join(root, "store");
const patchDir = "_ferretdb_patch";
const ferretdb = "vendor/github.com/FerretDB/FerretDB/internal";
const patchedPackage = `${ferretdb}/backends/sqlite`;
/** Hush's own files added to FerretDB's packages: `<file>` -> package directory. */
const added: Record<string, string> = {
  "hush_pushdown.go": patchedPackage,
  // find hands a sort on one field and its limit to the backend: docs/stores.md, "Sort and limit".
  "hush_find.go": `${ferretdb}/handler`,
  // sjson decodes a document's schema once per shape, and the document in one pass
  // (docs/stores.md, "Reading documents").
  "hush_schema.go": `${ferretdb}/handler/sjson`,
  "hush_sjson.go": `${ferretdb}/handler/sjson`,
  // The statements read queries run are kept prepared (docs/stores.md, "Reading documents").
  "hush_stmts.go": `${ferretdb}/util/fsql`,
};
/** Patches to FerretDB's own code, each applied in its package: `<patch file>` -> package directory. */
const patches: Record<string, string> = {
  "sqlite.patch": patchedPackage,
  // msg_update.go closes each statement's query before the next: docs/stores.md, "The write gate";
  // msg_find.go and msg_explain.go hand a sort and limit to the backend (hush_find.go), and
  // msg_getmore.go asks a capped collection for what follows the tailable cursor's last document.
  "handler.patch": `${ferretdb}/handler`,
  // Cursor.LastRecordID, for a tailable getMore's query (handler.patch's msg_getmore.go).
  "cursor.patch": `${ferretdb}/clientconn/cursor`,
  // Reading documents (docs/stores.md): sjson decodes with go-json through store/fastjson, reuses
  // decoded schemas (hush_schema.go) and reads a document in one pass (hush_sjson.go); a find
  // without projection hands back the document instead of two copies of it; objects are tracked
  // for leaks only in debug builds.
  "sjson.patch": `${ferretdb}/handler/sjson`,
  "projection.patch": `${ferretdb}/handler/common`,
  "resource.patch": `${ferretdb}/util/resource`,
  // SQL statements are formatted for the debug log only when it is on, and the statements of
  // queries outside a transaction are kept prepared (hush_stmts.go).
  "fsql.patch": `${ferretdb}/util/fsql`,
  // A reply is not decoded back to look for NaNs.
  "wire.patch": "vendor/github.com/FerretDB/wire",
};

/** Every file that goes into the build (paths relative to store/, sorted): sources, go.mod, go.sum, the patch. */
function storeSources(dir = storeDir, prefix = ""): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const rel = prefix + entry.name;
    if (entry.isDirectory()) files.push(...storeSources(join(dir, entry.name), `${rel}/`));
    else files.push(rel);
  }
  return files.sort();
}

/**
 * How the store is built: FerretDB's PostgreSQL backend left out (Hush only ever runs its SQLite one),
 * paths and symbol tables stripped. docs/performance.md, "Building the local store", has the
 * before/after figures. Part of the binary's hash, so a change here builds a new binary.
 */
export const STORE_BUILD_FLAGS = ["-tags=ferretdb_no_postgresql", "-trimpath", "-ldflags=-s -w"];

export function storeBinaryPath(flags: readonly string[] = STORE_BUILD_FLAGS): string {
  const hash = createHash("sha256");
  hash.update(`${flags.join("\0")}\0`);
  for (const f of storeSources()) {
    hash.update(`${f}\0`);
    hash.update(readFileSync(join(storeDir, f)));
  }
  return join(root, ".cache", `hush-store-${hash.digest("hex").slice(0, 12)}`);
}

export function ensureStoreBinary(log: (msg: string) => void = () => {}): string {
  const bin = storeBinaryPath();
  if (existsSync(bin)) return bin;
  log(
    "building the local store (FerretDB) into .cache/, once: about 3 minutes on 2 cores; " +
      "go names each package as it compiles it",
  );
  buildStore(bin, STORE_BUILD_FLAGS, log);
  log(`local store built: ${bin}`);
  return bin;
}

/** Builds the store into `bin` with `go build` and these flags (bench/store-build.ts compares flags). */
export function buildStore(
  bin: string,
  flags: readonly string[],
  log: (msg: string) => void = () => {},
  env: NodeJS.ProcessEnv = process.env,
): void {
  mkdirSync(dirname(bin), { recursive: true });
  // A scratch copy per build, so that concurrent builds (test workers, scripts) never share files;
  // the binary appears under its final name only once complete.
  const work = mkdtempSync(join(dirname(bin), "store-build-"));
  try {
    cpSync(storeDir, work, { recursive: true });
    log("store build: go mod vendor (downloads FerretDB and its modules the first time)");
    execFileSync("go", ["mod", "vendor"], { cwd: work, stdio: "inherit", env });
    for (const [file, pkg] of Object.entries(added))
      copyFileSync(join(work, patchDir, file), join(work, pkg, file));
    for (const [patch, pkg] of Object.entries(patches)) {
      // The ceiling keeps git from taking the scratch copy for part of an enclosing repository, where
      // it would resolve the patch's paths from that repository's root.
      execFileSync("git", ["apply", join(work, patchDir, patch)], {
        cwd: join(work, pkg),
        stdio: "inherit",
        env: { ...env, GIT_CEILING_DIRECTORIES: work },
      });
    }
    log("store build: go build (modernc.org/sqlite takes most of the time)");
    const tmp = `${bin}.${process.pid}.tmp`;
    // -v: go prints each package as it compiles it, so a long first build is never silent.
    execFileSync("go", ["build", "-v", "-mod=vendor", ...flags, "-o", tmp, "."], {
      cwd: work,
      stdio: "inherit",
      env,
    });
    renameSync(tmp, bin);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => res(port));
    });
  });
}

export interface LocalStore {
  uri: string;
  /** The store process's pid; a new one after the store was restarted. */
  pid(): number;
  stop(): Promise<void>;
}

export interface LocalStoreOptions {
  /**
   * Plain FerretDB, as before the store gained its write gate and `_id` lookup index: writes are not
   * atomic and `_id` lookups scan. Only for benchmarks that compare the two.
   */
  raw?: boolean;
  /** Extra environment for the store (HUSH_STORE_GATE_HOLD_MS). */
  env?: Record<string, string>;
  /** A store binary other than this checkout's (benchmarks that compare builds). */
  bin?: string;
  /** Delays before each restart of a store that died (the last one repeats); tests lengthen them. */
  restartDelaysMs?: number[];
}

/** Delays before restarting a store that died: the first retry at once, then up to 5 s apart. */
const restartDelays = [0, 250, 1_000, 5_000];

/**
 * Starts the local store on a free loopback port with its data in `dataDir`, kept across restarts.
 *
 * The store lives and dies with this process (docs/durability.md, "When the store fails"): it gets
 * a pipe on stdin and HUSH_STORE_PARENT, so it exits when this process dies, however it dies, and a
 * second store on the same folder refuses to start. A store that dies while this process lives
 * is started again on the same port, so the driver reconnects by itself and requests answer 503
 * STORE_UNAVAILABLE only meanwhile.
 */
export async function startLocalStore(
  dataDir: string,
  log: (msg: string) => void = () => {},
  options: LocalStoreOptions = {},
): Promise<LocalStore> {
  const bin = options.bin ?? ensureStoreBinary(log);
  mkdirSync(dataDir, { recursive: true });
  const port = await freePort();
  const env = {
    ...process.env,
    ...options.env,
    HUSH_STORE_RAW: options.raw ? "1" : "",
    HUSH_STORE_PARENT: String(process.pid),
  };
  const args = [`127.0.0.1:${port}`, resolve(dataDir)];
  let child = await spawnStore(bin, args, env);
  let stopping = false;
  let attempt = 0;
  let timer: NodeJS.Timeout | undefined;

  const watch = (c: ChildProcess) =>
    c.once("exit", (code, signal) => {
      if (stopping) return;
      log(
        `local store (pid ${c.pid}) exited (${signal ?? `code ${code}`}); starting it again on port ${port}`,
      );
      restart();
    });
  const restart = () => {
    const delays = options.restartDelaysMs ?? restartDelays;
    const delay = delays[Math.min(attempt++, delays.length - 1)]!;
    timer = setTimeout(async () => {
      if (stopping) return;
      try {
        const next = await spawnStore(bin, args, env);
        if (stopping) return void stopChild(next);
        child = next;
        attempt = 0;
        watch(child);
        log(`local store started again (pid ${child.pid})`);
      } catch (err) {
        log(`local store did not start again (${(err as Error).message}); retrying`);
        restart();
      }
    }, delay);
  };
  watch(child);
  return {
    uri: child.uri,
    pid: () => child.pid!,
    stop: () => {
      stopping = true;
      clearTimeout(timer);
      return stopChild(child);
    },
  };
}

/** Spawns one store process; resolves once it prints `ready`, rejects with what it printed if it exits first. */
async function spawnStore(bin: string, args: string[], env: NodeJS.ProcessEnv) {
  // stdin is a pipe this process never writes to: the store reads EOF when this process dies.
  const child = spawn(bin, args, { stdio: ["pipe", "pipe", "pipe"], env });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => {
    process.stderr.write(d);
    stderr = (stderr + d.toString()).slice(-2_000);
  });
  const uri = await new Promise<string>((res, rej) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on("line", (l) => {
      if (l.startsWith("ready ")) res(l.slice(6).trim());
    });
    child.once("exit", (code) =>
      rej(new Error(`local store exited with code ${code} before it was ready: ${stderr.trim()}`)),
    );
    child.once("error", rej);
  });
  return Object.assign(child, { uri });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((res) => {
    const kill = setTimeout(() => child.kill("SIGKILL"), 5_000);
    child.once("exit", () => {
      clearTimeout(kill);
      res();
    });
    child.kill("SIGTERM");
  });
}
