import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MongoClient } from "mongodb";
import { describe, expect, it } from "vitest";
import { startLocalStore } from "../../src/local-store.js";
import { spawnServer } from "../helpers/spawned.js";

/**
 * One store per data folder, tied to the server that started it (docs/durability.md, "When the
 * store fails"): `npm start` after a `kill -9` just works.
 */

/** The store's pid and address, from the server's "database" log line. */
function storeOf(output: string) {
  const pid = /"store_pid":(\d+)/.exec(output)?.[1];
  const uri = /local FerretDB store at (mongodb:\/\/\S+) \(data in/.exec(output)?.[1];
  if (!pid || !uri) throw new Error(`no store in the server's output: ${output}`);
  return { pid: Number(pid), uri };
}

/** Alive and not a zombie (a zombie holds no files, no port and no lock). */
function running(pid: number) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

async function until(what: string, ok: () => boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function withClient<T>(uri: string, use: (c: MongoClient) => Promise<T>) {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 5_000 });
  try {
    return await use(client);
  } finally {
    await client.close();
  }
}

describe("one store per data folder, tied to its server", () => {
  it("a server killed with SIGKILL takes its store with it, and a new server on the same DATA_DIR starts healthy with the data", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hush-lifetime-"));
    try {
      const first = await spawnServer({}, { dataDir: dir });
      const store = storeOf(first.output());
      expect(running(store.pid)).toBe(true);
      await withClient(store.uri, (c) =>
        c
          .db("lifetime_marker")
          .collection("kept")
          .insertOne({ _id: "marker" } as never),
      );

      await first.kill();
      await until("the orphaned store to exit", () => !running(store.pid), 10_000);

      const second = await spawnServer({}, { dataDir: dir });
      try {
        const ready = await fetch(`${second.url}/readyz`);
        expect(ready.status).toBe(200);
        const again = storeOf(second.output());
        expect(again.pid).not.toBe(store.pid);
        const marker = await withClient(again.uri, (c) =>
          c
            .db("lifetime_marker")
            .collection("kept")
            .findOne({ _id: "marker" } as never),
        );
        expect(marker).toEqual({ _id: "marker" });
      } finally {
        await second.stop();
      }
      // A server stopped with SIGTERM stops its store too.
      await until("the store to exit with its server", () => !running(storeOf(second.output()).pid), 10_000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it("a second store on a folder in use refuses to start, naming the folder and the holder; once the first is gone it starts", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hush-lifetime-"));
    try {
      const one = await startLocalStore(dir);
      await expect(startLocalStore(dir)).rejects.toThrow(
        new RegExp(`code 3 .*${dir}.* is locked by another hush-store \\(pid ${one.pid()}\\)`),
      );
      await withClient(one.uri, async (c) =>
        expect(await c.db("x").command({ ping: 1 })).toMatchObject({ ok: 1 }),
      );
      // (A store killed outright releases it too: store-failure.test.ts restarts one on its folder.)
      await one.stop();
      const two = await startLocalStore(dir);
      await two.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
