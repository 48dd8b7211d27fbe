import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

/*
 * How delivery is laid out (docs/realtime.md, "Where delivery happens"), checked on the source:
 * one door into the streams, and no import cycle (type-only imports count) through the dependency
 * bag or the delivery, push and realtime folders.
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

/** Each file's relative imports and re-exports (`import type` too), as src-relative names. */
const graph = new Map(
  [...text].map(([file, body]) => {
    const specs = [...body.matchAll(/(?:import|export)\s[^;]*?from\s+"(\.{1,2}\/[^"]+)"/g)].map((m) => m[1]!);
    const targets = specs.map((s) => name(resolve(src, dirname(file), s.replace(/\.js$/, ".ts"))));
    return [file, targets.filter((t) => text.has(t))];
  }),
);

/** The strongly connected groups of more than one file (Tarjan): every import cycle is in one. */
function cycles(): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  let n = 0;
  const visit = (v: string) => {
    index.set(v, n);
    low.set(v, n++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const group: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        group.push(w);
      } while (w !== v);
      if (group.length > 1) out.push(group.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return out;
}

describe("delivery's layout", () => {
  it("no import cycle runs through deps.ts or the delivery, push and realtime folders", () => {
    const mine = /^(deps\.ts|delivery\/|push\/|realtime\/)/;
    expect(cycles().filter((group) => group.some((f) => mine.test(f)))).toEqual([]);
  });

  it("the dependency bag's types come from files that import nothing that imports it", () => {
    const reach = new Set<string>();
    const walk = (f: string) => {
      for (const t of graph.get(f) ?? []) {
        if (reach.has(t)) continue;
        reach.add(t);
        walk(t);
      }
    };
    walk("deps.ts");
    expect([...reach].filter((f) => graph.get(f)!.includes("deps.ts"))).toEqual([]);
  });

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
