import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { readStoreAddress, removeStoreAddress, writeStoreAddress } from "../../src/db/store-address.js";

const dirs: string[] = [];
const folder = () => {
  const d = mkdtempSync(join(tmpdir(), "hush-addr-"));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("the running server's store address in DATA_DIR", () => {
  it("is read back while its server lives, and gone once removed", () => {
    const dir = folder();
    expect(readStoreAddress(dir)).toBeNull();
    writeStoreAddress(dir, "mongodb://127.0.0.1:40001/");
    expect(readStoreAddress(dir)).toBe("mongodb://127.0.0.1:40001/");
    removeStoreAddress(dir);
    expect(readStoreAddress(dir)).toBeNull();
  });

  it("is ignored when the server that wrote it is gone (killed, so it could not remove it)", () => {
    const dir = folder();
    const dead = spawnSync(process.execPath, [
      "-e",
      "process.stdout.write(String(process.pid))",
    ]).stdout.toString();
    writeFileSync(
      join(dir, "hush-store.json"),
      JSON.stringify({ uri: "mongodb://127.0.0.1:40002/", server_pid: Number(dead) }),
    );
    expect(readStoreAddress(dir)).toBeNull();
    writeFileSync(join(dir, "hush-store.json"), "not json");
    expect(readStoreAddress(dir)).toBeNull();
  });
});
