import { readFileSync } from "node:fs";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import * as attachments from "../../src/attachments/routes.js";
import * as auth from "../../src/auth/routes.js";
import * as blocks from "../../src/blocks/routes.js";
import * as contacts from "../../src/contacts/routes.js";
import * as conversations from "../../src/conversations/routes.js";
import * as delivery from "../../src/delivery/routes.js";
import * as devices from "../../src/devices/routes.js";
import type { Handlers } from "../../src/http/openapi.js";
import * as keys from "../../src/keys/routes.js";
import * as linking from "../../src/linking/routes.js";
import * as messages from "../../src/messages/routes.js";
import * as ops from "../../src/ops/routes.js";
import * as push from "../../src/push/routes.js";
import * as realtime from "../../src/realtime/routes.js";
import * as users from "../../src/users/routes.js";

/*
 * The convention of a capability folder (issue 28): routes.ts declares, handlers.ts handles (typed
 * by the routes: see below), index.ts only wires one to the other. Every folder with routes is
 * listed.
 */
const folders = {
  attachments,
  auth,
  blocks,
  contacts,
  conversations,
  delivery,
  devices,
  keys,
  linking,
  messages,
  ops,
  push,
  realtime,
  users,
};

const isRoute = (v: unknown) =>
  typeof v === "object" && v !== null && "method" in v && "path" in v && "responses" in v;

describe("capability folders", () => {
  for (const [folder, routes] of Object.entries(folders)) {
    it(`${folder}/index.ts only wires each route of ${folder}/routes.ts to its handler, once`, () => {
      const declared = Object.keys(routes)
        .filter((k) => isRoute((routes as Record<string, unknown>)[k]))
        .sort();
      const path = `src/${folder}/index.ts`;
      const source = ts.createSourceFile(path, readFileSync(path, "utf8"), ts.ScriptTarget.Latest, true);
      const rest = source.statements.filter((s) => !ts.isImportDeclaration(s));
      expect(rest.length, "one exported function, after the imports").toBe(1);
      const fn = rest[0]!;
      if (!ts.isFunctionDeclaration(fn) || !fn.body) throw new Error(`${path}: not a function`);
      const body = fn.body.statements.map((s) => s.getText().replace(/\s+/g, " "));
      expect(body, "the handlers built, then the router returned").toHaveLength(2);
      expect(body[0]).toMatch(/^const h = \w+Handlers\([\w, ]*\);$/);
      const chain = body[1]!.replace(/\/\/[^\n]*?(?=\.openapi|$)/g, "");
      const wired = [...chain.matchAll(/\.openapi\(r\.(\w+), h\.(\w+)\)/g)];
      expect(chain).toMatch(/^return \(? ?createRouter\(\)/);
      expect(wired.filter(([, route, handler]) => route !== handler)).toEqual([]);
      expect(wired.map(([, route]) => route).sort()).toEqual(declared);
    });
  }
});

// The typecheck (npm run typecheck) holds handlers to their routes: none missing, none extra.
// @ts-expect-error a declared route without its handler
const missing: Handlers<typeof users> = {} as Omit<Handlers<typeof users>, "getMe">;
const extra: Handlers<typeof blocks> = {
  ...({} as Handlers<typeof blocks>),
  // @ts-expect-error a handler for no declared route
  unknownRoute: () => new Response(),
};
void [missing, extra];
