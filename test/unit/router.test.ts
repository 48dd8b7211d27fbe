import { RegExpRouter } from "hono/router/reg-exp-router";
import { SmartRouter } from "hono/router/smart-router";
import { TrieRouter } from "hono/router/trie-router";
import { describe, expect, it } from "vitest";
import { StaticRouteCache } from "../../src/http/router.js";

// The shapes the app registers: catch-all middleware, a literal next to a parameter, nested ids.
const table: [string, string][] = [
  ["GET", "/healthz"],
  ["ALL", "/api/v1/*"],
  ["GET", "/api/v1/users/me"],
  ["GET", "/api/v1/users/search"],
  ["GET", "/api/v1/users/:user_id"],
  ["POST", "/api/v1/users/:user_id/block"],
  ["GET", "/api/v1/users/me/blocks"],
  ["POST", "/api/v1/conversations/groups"],
  ["GET", "/api/v1/conversations/:conversation_id"],
  ["POST", "/api/v1/messages/read"],
  ["POST", "/api/v1/messages/:message_id/read"],
];
const asked: [string, string][] = [
  ...table.map(([m, p]): [string, string] => [m === "ALL" ? "GET" : m, p.replace(/:\w+/g, "abc")]),
  ["GET", "/api/v1/users/me"],
  ["POST", "/api/v1/users/me"],
  ["GET", "/api/v1/nothing/here"],
  ["GET", "/api/v1/users/abc/block"],
  ["GET", "/nothing"],
  ["DELETE", "/healthz"],
];

function build<R extends { add(m: string, p: string, h: string): void }>(router: R) {
  for (const [m, p] of table) router.add(m, p, `${m} ${p}`);
  return router;
}
const handlers = (r: ReturnType<StaticRouteCache<string>["match"]>) =>
  (r[0] as [string, unknown][]).map(([h, params]) => [h, { ...(params as object) }]);

describe("StaticRouteCache", () => {
  it("answers every method and path as Hono's default router does, the first time and after (but for literal paths, below)", () => {
    const cached = build(new StaticRouteCache<string>());
    const plain = build(new SmartRouter<string>({ routers: [new RegExpRouter(), new TrieRouter()] }));
    for (let round = 0; round < 2; round++) {
      for (const [m, p] of asked)
        expect(handlers(cached.match(m, p)), `${m} ${p}`).toEqual(handlers(plain.match(m, p)));
    }
    expect(handlers(cached.match("GET", "/api/v1/users/abc"))).toEqual([
      ["ALL /api/v1/*", {}],
      ["GET /api/v1/users/:user_id", { user_id: "abc" }],
    ]);
  });

  it("never serves a literal path some route has with a sibling parameter route: only the middleware answers", () => {
    const cached = build(new StaticRouteCache<string>());
    // Hono's own router hands GET /conversations/groups to GET /conversations/:conversation_id.
    const plain = build(new SmartRouter<string>({ routers: [new RegExpRouter(), new TrieRouter()] }));
    expect(handlers(plain.match("GET", "/api/v1/conversations/groups")).map(([h]) => h)).toContain(
      "GET /api/v1/conversations/:conversation_id",
    );
    for (let round = 0; round < 2; round++) {
      expect(handlers(cached.match("GET", "/api/v1/conversations/groups"))).toEqual([["ALL /api/v1/*", {}]]);
      expect(handlers(cached.match("POST", "/api/v1/messages/abc/read"))).toEqual([
        ["ALL /api/v1/*", {}],
        ["POST /api/v1/messages/:message_id/read", { message_id: "abc" }],
      ]);
      expect(handlers(cached.match("POST", "/api/v1/messages/read"))).toEqual([
        ["ALL /api/v1/*", {}],
        ["POST /api/v1/messages/read", {}],
      ]);
      // A path no route registers literally is still the parameter route's.
      expect(handlers(cached.match("GET", "/api/v1/conversations/abc"))).toEqual([
        ["ALL /api/v1/*", {}],
        ["GET /api/v1/conversations/:conversation_id", { conversation_id: "abc" }],
      ]);
    }
  });

  it("keeps the answer for a registered static path only", () => {
    const r = build(new StaticRouteCache<string>());
    expect(r.match("GET", "/healthz")).toBe(r.match("GET", "/healthz"));
    expect(r.match("GET", "/api/v1/users/me")).toBe(r.match("GET", "/api/v1/users/me"));
    // Ids and unknown paths are as many as callers make up: asked of the router each time.
    expect(r.match("GET", "/api/v1/users/abc")).not.toBe(r.match("GET", "/api/v1/users/abc"));
    expect(r.match("GET", "/made/up")).not.toBe(r.match("GET", "/made/up"));
  });
});
