import type { CommandStartedEvent } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sweepOnce } from "../../src/jobs/sweeper.js";
import { type Hush, signUp, startHush } from "../helpers/hush.js";
import { requestOrigin } from "../helpers/query-watch.js";

let h: Hush;
beforeAll(async () => {
  h = await startHush();
});
afterAll(() => h?.close());

interface Seen {
  command: string;
  collection: unknown;
  origin: string | undefined;
}

describe("the index check's wiring", () => {
  it("attributes each command of the app's client to the route whose request sent it", async () => {
    const seen: Seen[] = [];
    const listen = (e: CommandStartedEvent) =>
      seen.push({
        command: e.commandName,
        collection: e.command[e.commandName],
        origin: requestOrigin.getStore(),
      });
    h.deps.store.client.on("commandStarted", listen);
    try {
      const [a, b] = await Promise.all([signUp(h), signUp(h)]);
      // Concurrent requests: each command keeps its own request's context.
      await Promise.all([
        h.req("GET", "/api/v1/users/me/blocks", { token: a.token }),
        h.req("GET", `/api/v1/users/${a.id}`, { token: b.token }),
      ]);
      await sweepOnce(h.deps);
      await h.raw("users").countDocuments({});
    } finally {
      h.deps.store.client.off("commandStarted", listen);
    }
    const origins = (command: string, collection: string) =>
      new Set(seen.filter((s) => s.command === command && s.collection === collection).map((s) => s.origin));
    expect(origins("find", "blocks")).toEqual(new Set(["GET /api/v1/users/me/blocks"]));
    expect(origins("insert", "users")).toEqual(new Set(["POST /api/v1/auth/complete-signup"]));
    expect(origins("find", "users")).toEqual(
      new Set(["POST /api/v1/auth/complete-signup", "GET /api/v1/users/{user_id}"]),
    );
    expect(origins("delete", "rate_limits")).toEqual(new Set([undefined])); // the sweeper, outside a request
    // The test's own count went through h.raw, which the check does not watch.
    expect(origins("aggregate", "users")).toEqual(new Set(["POST /api/v1/auth/signup"]));
  });
});
