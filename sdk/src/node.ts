import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { WebSocket } from "ws";
import type { ClientStore } from "./store.js";
import { type SocketFactory, type SocketLike, setDefaultSocket } from "./stream.js";

export * from "./index.js";

/** Node (20 has no global WebSocket): the `ws` package, which has the same surface. */
export const nodeSocket: SocketFactory = (url, protocols) =>
  new WebSocket(url, protocols) as unknown as SocketLike;
setDefaultSocket(nodeSocket);

/**
 * A device's store as one JSON file in a folder only its user can read (0700/0600). Each write
 * replaces the file atomically (write, then rename), synchronously: once `set` returns, a crash
 * cannot lose it, which the stream's acknowledgements rely on.
 */
export class FileStore implements ClientStore {
  private readonly file: string;
  private data: Record<string, unknown>;

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.file = join(dir, "device.json");
    try {
      this.data = JSON.parse(readFileSync(this.file, "utf8"));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
      this.data = {};
    }
  }
  async get<T>(key: string) {
    return this.data[key] as T | undefined;
  }
  async set(key: string, value: unknown) {
    this.data[key] = structuredClone(value);
    this.flush();
  }
  async delete(key: string) {
    delete this.data[key];
    this.flush();
  }
  private flush() {
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.data), { mode: 0o600 });
    renameSync(tmp, this.file);
  }
}
