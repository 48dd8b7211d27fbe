import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

/*
 * How delivery is laid out (docs/realtime.md, "Where delivery happens"), checked on the source:
 * one door into the streams, and its per-process state on deps. (No import cycle anywhere, type-only
 * imports included: npm run lint's dependency-cruiser rules.)
 */

const src = resolve(dirname(fileURLToPath(import.meta.url)), "../../src");
const files = (dir: string): string[] =>
  readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    return statSync(p).isDirectory() ? files(p) : p.endsWith(".ts") ? [p] : [];
  });
const all = files(src);
const name = (p: string) => relative(src, p);
const text = new Map(all.map((p) => [name(p), readFileSync(p, "utf8")]));

describe("delivery's layout", () => {
  it("only the door (delivery/deliver.ts) appends to streams", () => {
    const appenders = [...text]
      .filter(([, body]) => /\bappend\(\s*deps\b|\.writer\.append\(/.test(body))
      .map(([file]) => file);
    expect(appenders).toEqual(["delivery/deliver.ts"]);
  });

  it("delivery and push keep no per-process state in module variables: it is on deps", () => {
    const moduleState = [...text]
      .filter(([file]) => /^(delivery|push)\//.test(file))
      .filter(([, body]) => /^(?:export )?(?:const|let) \w+ = new (?:Weak)?(?:Map|Set)\b/m.test(body))
      .map(([file]) => file);
    expect(moduleState).toEqual([]);
  });
});
