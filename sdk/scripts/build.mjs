// Builds the installable package in sdk/dist: ESM JavaScript and .d.ts from src (tsc), and the
// package.json a client author installs (exports pointing at the JavaScript). `npm pack ./dist`
// then gives the tarball. The sdk/package.json of this repository keeps pointing at the sources,
// so tests, the chat and `npm run chat` need no build step.
import { execFileSync } from "node:child_process";
import { copyFileSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const sdk = join(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(sdk, "dist");
rmSync(dist, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
execFileSync(process.execPath, [tsc, "-p", join(sdk, "tsconfig.build.json")], { stdio: "inherit" });

const source = JSON.parse(readFileSync(join(sdk, "package.json"), "utf8"));
const entry = (name) => ({ types: `./${name}.d.ts`, import: `./${name}.js`, default: `./${name}.js` });
const pkg = {
  name: source.name,
  version: source.version,
  description: source.description,
  type: "module",
  engines: source.engines,
  exports: { ".": entry("index"), "./node": entry("node"), "./package.json": "./package.json" },
  types: "./index.d.ts",
  // The browser entry ("." ) needs no Node module; `ws` is only imported by "./node".
  sideEffects: ["./node.js"],
  dependencies: source.dependencies,
};
writeFileSync(join(dist, "package.json"), `${JSON.stringify(pkg, null, 2)}\n`);
copyFileSync(join(sdk, "README.md"), join(dist, "README.md"));
console.log(`built ${pkg.name}@${pkg.version} in ${dist}`);
