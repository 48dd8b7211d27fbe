import type { CommandStartedEvent } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Hush, signUp, startHush } from "../helpers/hush.js";

let h: Hush;
beforeAll(async () => {
  h = await startHush();
});
afterAll(() => h?.close());

interface Operation {
  security?: unknown[];
  operationId: string;
}

describe("the auth gate", () => {
  it("follows each operation's declared security: bearer routes refuse a missing token, public ones never ask", async () => {
    const spec = (await h.req("GET", "/openapi.json")).body;
    const ops = Object.entries(spec.paths as Record<string, Record<string, Operation>>).flatMap(
      ([path, item]) =>
        Object.entries(item).map(([method, op]) => ({ path, method: method.toUpperCase(), op })),
    );
    const api = ops.filter((o) => o.path.startsWith("/api/v1/"));
    expect(api.length).toBeGreaterThan(20);
    const checked = { bearer: 0, open: 0 };
    for (const { path, method, op } of api) {
      const url = path.replace(/\{[^}]+\}/g, "0123456789abcdef01234567");
      const res = await h.req(method, url, method === "GET" || method === "DELETE" ? {} : { body: {} });
      const open = Array.isArray(op.security) && op.security.length === 0;
      if (open) {
        checked.open++;
        expect(res.status, `${method} ${path}`).not.toBe(401);
      } else {
        checked.bearer++;
        expect(res.status, `${method} ${path}`).toBe(401);
        expect(op.security, `${method} ${path} declares bearer auth`).toEqual([{ bearerAuth: [] }]);
      }
    }
    expect(checked.open).toBeGreaterThanOrEqual(5);
    expect(checked.bearer).toBeGreaterThan(15);
  });
});

describe("what authentication costs", () => {
  it("the gate is one _id lookup of the session; GET /auth/me adds the user by _id, the devices and whether a socket is open", async () => {
    const a = await signUp(h);
    const seen: { name: string; collection: string; filter: unknown }[] = [];
    const listen = (e: CommandStartedEvent) => {
      if (e.commandName === "endSessions") return;
      // The realtime feed's tailer reads (and on the local store trims) all the time, not for requests.
      if (e.command[e.commandName] === "realtime_feed" || e.commandName === "getMore") return;
      seen.push({ name: e.commandName, collection: e.command[e.commandName], filter: e.command.filter });
    };
    h.deps.store.client.on("commandStarted", listen);
    try {
      expect((await h.req("GET", "/api/v1/auth/me", { token: a.token })).status).toBe(200);
    } finally {
      h.deps.store.client.off("commandStarted", listen);
    }
    expect(seen).toHaveLength(4);
    const [gate, ...handler] = seen;
    expect(gate).toMatchObject({ name: "find", collection: "auth_sessions" });
    expect(Object.keys(gate!.filter as object)).toEqual(["_id"]);
    expect(handler.map((c) => c.collection).sort()).toEqual(["devices", "presence", "users"]);
  });
});
