import { AsyncLocalStorage } from "node:async_hooks";
import { relative } from "node:path";
import type { CommandFailedEvent, CommandStartedEvent, CommandSucceededEvent } from "mongodb";
import { expect, inject } from "vitest";
import { inventory } from "../../src/inventory.js";
import { declaredIndexes, describeShape, uncoveredShapes } from "./index-coverage.js";
import { PlanWatch } from "./plan-check.js";

/**
 * Watches the commands the app's own MongoClient sends in a test file and keeps each query shape no
 * declared index serves (see index-coverage.ts for the rule), with where it came from; test/setup.ts
 * fails the file with `coverageReport()` at its end.
 *
 * What counts: every command of the app's client, inside a request (attributed to its route through
 * `requestOrigin`, which startHush sets around each request) or outside one (start-up, jobs such as
 * sweepOnce that tests call directly). Tests' own raw reads and writes go through `h.raw`, a second
 * client that is not watched: a test may count a whole collection, the app may not. A shape is
 * reported with the first frame of Hush's code that sent it and the test that was running.
 *
 * On the local store, each query shape's plan is checked too, once per file (plan-check.ts): it must
 * read only what its answer needs; test/setup.ts fails the file with `planReport()`.
 */
export const requestOrigin = new AsyncLocalStorage<string>();

const hushIndexes = declaredIndexes(inventory);
/** shape → "route at line" → tests that sent it */
const uncovered = new Map<string, Map<string, Set<string>>>();

const plans = inject("storeKind") === "local FerretDB" ? new PlanWatch() : null;

export function watchCommand(event: CommandStartedEvent) {
  const route = requestOrigin.getStore() ?? "outside a request (start-up, job or test)";
  const test = () => expect.getState().currentTestName ?? "no test running";
  plans?.started(event.requestId, event.address, event.databaseName, event.command, () => {
    return `${route} at ${sourceFrame()} (test: ${test()})`;
  });
  const shapes = uncoveredShapes(event.command, hushIndexes);
  if (!shapes.length) return;
  const origin = `${route} at ${sourceFrame()}`;
  for (const shape of shapes) {
    const key = describeShape(shape);
    const origins = uncovered.get(key) ?? new Map<string, Set<string>>();
    uncovered.set(key, origins);
    const tests = origins.get(origin) ?? new Set<string>();
    origins.set(origin, tests.add(test()));
  }
}

/** The first frame in src/ of the current (async) stack: the line of Hush that issued the command. */
function sourceFrame(): string {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 60;
  const stack = new Error().stack ?? "";
  Error.stackTraceLimit = limit;
  const frame = stack
    .split("\n")
    .map((l) => /\(?((?:file:\/\/)?\/[^()\s]+\/src\/[^()\s]+:\d+):\d+\)?$/.exec(l.trim())?.[1])
    .find((f) => f && !f.includes("node_modules"));
  return frame ? relative(process.cwd(), frame.replace(/^file:\/\//, "")) : "an unknown line";
}

/** The uncovered shapes seen since the last call, with their origins; null when there were none. */
export function coverageReport(): string | null {
  if (!uncovered.size) return null;
  const lines = [
    `${uncovered.size} query shape(s) no declared index serves on MongoDB ` +
      '(docs/stores.md, "Every query served by an index"):',
  ];
  for (const [shape, origins] of uncovered) {
    lines.push(`  ${shape}`);
    for (const [origin, tests] of origins) {
      const [first] = tests;
      const more = tests.size > 1 ? `, and ${tests.size - 1} more` : "";
      lines.push(`    from ${origin} (test: ${first}${more})`);
    }
  }
  uncovered.clear();
  return lines.join("\n");
}

/** A command of the app's client ended: on the local store, its plan is checked now if its shape is new. */
export function commandEnded(event: CommandSucceededEvent | CommandFailedEvent) {
  plans?.ended(event.requestId, !("failure" in event));
}

/** On the local store, the queries whose plan reads what their answer does not need; null when none. */
export async function planReport(): Promise<string | null> {
  const found = (await plans?.report()) ?? [];
  if (!found.length) return null;
  return [
    `${found.length} query shape(s) whose plan on the local store reads documents the answer does not need ` +
      '(docs/stores.md, "Every query served by an index"):',
    ...found.map((f) => `  ${f}`),
  ].join("\n");
}
