import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildStore, STORE_BUILD_FLAGS } from "../src/local-store.js";

/**
 * The local store's first build, as a newcomer's `npm start` runs it: each variant with an empty Go
 * build cache of its own (the module cache is left warm: downloads are not timed), one after the
 * other, so both see the same machine. Prints wall time and binary size per variant.
 * `npm run bench:store-build`.
 */
const variants: [string, readonly string[]][] = [
  ["plain go build (before)", []],
  [`${STORE_BUILD_FLAGS.join(" ")} (after)`, STORE_BUILD_FLAGS],
];
const dir = mkdtempSync(join(tmpdir(), "hush-store-build-"));
try {
  for (const [name, flags] of variants) {
    const cache = mkdtempSync(join(dir, "gocache-"));
    const bin = join(dir, `store-${flags.length}`);
    const start = performance.now();
    buildStore(bin, flags, () => {}, { ...process.env, GOCACHE: cache, GOFLAGS: "" });
    const seconds = (performance.now() - start) / 1000;
    const mb = statSync(bin).size / 1024 ** 2;
    console.log(`${name.padEnd(60)} ${seconds.toFixed(0).padStart(4)} s  ${mb.toFixed(1)} MiB`);
    rmSync(cache, { recursive: true, force: true });
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
