import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { inject } from "vitest";
import { freePort } from "../../src/local-store.js";
import { dropDatabase } from "./hush.js";

const root = new URL("../..", import.meta.url).pathname;

/**
 * The server as a reader starts it (`src/index.ts`, development mode) in a child process, on a free
 * loopback port and a database of its own (or `dbName`, shared with another server and left in
 * place; or, with `dataDir`, its own local store in that folder, as `npm start` runs); resolves
 * once it logs that it listens. `output()` is everything it printed so far (a
 * development server without SMTP prints the OTP mails); `exited` settles when the process ends.
 */
export async function spawnServer(
  env: Record<string, string> = {},
  o: { dataDir?: string; dbName?: string } = {},
) {
  const port = await freePort();
  const dbName = o.dbName ?? `hush_spawned_${randomBytes(4).toString("hex")}`;
  let output = "";
  // With a data folder, the server starts its own local store there, as `npm start` does.
  const storeEnv: Record<string, string> = o.dataDir
    ? { DATA_DIR: o.dataDir }
    : { MONGODB_URI: inject("mongoUri") };
  const proc = spawn(process.execPath, ["--import", "tsx", "src/index.ts"], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? "",
      NODE_ENV: "development",
      ...storeEnv,
      MONGODB_DB: dbName,
      PORT: String(port),
      HOST: "127.0.0.1",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  proc.stderr!.on("data", (d: Buffer) => {
    output += d.toString();
  });
  const exited = new Promise<string | number | null>((resolve) =>
    proc.once("exit", (code, signal) => resolve(signal ?? code)),
  );
  await new Promise<void>((resolve, reject) => {
    proc.stdout!.on("data", (d: Buffer) => {
      output += d.toString();
      if (output.includes('"listening"')) resolve();
    });
    void exited.then((code) => reject(new Error(`server exited ${code}: ${output}`)));
  });
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    dbName,
    pid: proc.pid!,
    output: () => output,
    exited,
    /** Kills the server (SIGKILL: no shutdown at all) and resolves once it is gone. */
    async kill() {
      proc.kill("SIGKILL");
      await exited;
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill("SIGTERM");
        await exited;
      }
      // A database of its own is dropped; a shared one (dbName) or a data folder is left in place.
      if (!o.dataDir && !o.dbName) await dropDatabase(dbName);
    },
  };
}
export type Spawned = Awaited<ReturnType<typeof spawnServer>>;
