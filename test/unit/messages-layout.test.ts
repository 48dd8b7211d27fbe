import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

/*
 * Both doors of a send (REST and the socket) call the one send, limit included (issue 28). Read
 * from the source: no server, no store. (No cycles and index.ts as wiring: npm run lint and
 * capability-folders.test.ts check every folder.)
 */

const dir = join(import.meta.dirname, "../../src/messages");
const source = (file: string) => readFileSync(join(dir, file), "utf8");
describe("src/messages", () => {
  it("has one send both doors call, the limit inside it: no door counts sends itself", () => {
    const doors = [source("handlers.ts"), readFileSync(join(dir, "../realtime/events.ts"), "utf8")];
    for (const door of doors) {
      expect(door).toMatch(/\bsend\(deps, /);
      expect(door).not.toMatch(/limiter|sendRule|sendMessage\(deps/);
    }
    expect(source("send.ts")).toMatch(/deps\.limiter\.enforce\(.*sendRule/);
  });
});
