import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * Where a running server's embedded store listens, for the operator's command: the store holds an
 * exclusive lock on its data folder (store/lifetime.go), so a second store cannot open it while the
 * server runs, and `npm run admin` connects to the server's store instead. Written by src/index.ts
 * once its store is up, removed when it stops. A server killed outright leaves it behind, naming a
 * process that is gone (its store went with it): a reader checks that the server still lives.
 */
const fileName = "hush-store.json";

export function writeStoreAddress(dataDir: string, uri: string) {
  writeFileSync(join(dataDir, fileName), `${JSON.stringify({ uri, server_pid: process.pid })}\n`, {
    mode: 0o600,
  });
}

export function removeStoreAddress(dataDir: string) {
  rmSync(join(dataDir, fileName), { force: true });
}

/** The running server's store address, or null when no server of this folder is alive. */
export function readStoreAddress(dataDir: string): string | null {
  let found: { uri?: unknown; server_pid?: unknown };
  try {
    found = JSON.parse(readFileSync(join(dataDir, fileName), "utf8"));
  } catch {
    return null;
  }
  if (typeof found.uri !== "string" || typeof found.server_pid !== "number") return null;
  try {
    process.kill(found.server_pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return null;
  }
  return found.uri;
}
