import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

/*
 * The messages folder's shape (issue 28): its files import one another without a cycle, index.ts
 * only wires, and both doors of a send (REST and the socket) call the one send, limit included.
 * Read from the source: no server, no store.
 */

const dir = join(import.meta.dirname, "../../src/messages");
const source = (file: string) => readFileSync(join(dir, file), "utf8");
const files = readdirSync(dir).filter((f) => f.endsWith(".ts"));
/** The folder's own files a file imports (type-only imports too: they are edges for a reader). */
const localImports = (file: string) =>
  [...source(file).matchAll(/from "\.\/([\w-]+)\.js"/g)].map((m) => `${m[1]}.ts`);

/** Every cycle among the folder's files, each as the path that closes it. */
function cycles(graph: Map<string, string[]>) {
  const found: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const visit = (file: string, path: string[]) => {
    if (state.get(file) === "done") return;
    if (state.get(file) === "open") {
      found.push([...path.slice(path.indexOf(file)), file]);
      return;
    }
    state.set(file, "open");
    for (const next of graph.get(file) ?? []) visit(next, [...path, file]);
    state.set(file, "done");
  };
  for (const file of graph.keys()) visit(file, []);
  return found;
}

describe("src/messages", () => {
  it("has no import cycle among its files (repo.ts and expiry.ts included)", () => {
    const graph = new Map(files.map((f) => [f, localImports(f)]));
    expect(cycles(graph).map((c) => c.join(" > "))).toEqual([]);
  });

  it("keeps index.ts to wiring: it imports the routes and the handlers, nothing else of the folder", () => {
    expect(localImports("index.ts").sort()).toEqual(["handlers.ts", "routes.ts"]);
  });

  it("has one send both doors call, the limit inside it: no door counts sends itself", () => {
    const doors = [source("handlers.ts"), readFileSync(join(dir, "../realtime/events.ts"), "utf8")];
    for (const door of doors) {
      expect(door).toMatch(/\bsend\(deps, /);
      expect(door).not.toMatch(/limiter|sendRule|sendMessage\(deps/);
    }
    expect(source("send.ts")).toMatch(/deps\.limiter\.enforce\(.*sendRule/);
  });
});
