import type { Result, Router } from "hono/router";
import { RegExpRouter } from "hono/router/reg-exp-router";
import { SmartRouter } from "hono/router/smart-router";
import { TrieRouter } from "hono/router/trie-router";

/**
 * Hono's default router (SmartRouter: RegExpRouter if it takes the route table, else TrieRouter),
 * keeping its answer for each method and path registered without parameters or wildcards.
 *
 * Why: RegExpRouter refuses this route table whatever the order of registration (in Hono 4.13 it
 * cannot have a literal segment and a parameter side by side, as `/users/me` and
 * `/users/{user_id}` are), so every request walked the trie: a fifth of a microsecond for
 * GET /healthz, against a lookup in a map for bare Hono. A route's answer depends only on the
 * method and path, and Hono never changes the arrays a router returns (RegExpRouter itself hands
 * out shared ones for static paths), so the first answer serves every later request. Paths
 * with parameters are not kept: there are as many of those as ids, and the trie serves them.
 *
 * One difference from Hono's: a literal path some route registers (`/attachments/uploads`) names
 * its own resource, so a method it lacks is not served by a sibling parameter route
 * (`GET /attachments/{attachment_id}`, which could only refuse "uploads" as an id). Only the
 * catch-all middleware stays in that answer, and the request ends as a 405 whose `Allow` lists the
 * literal path's own methods (`routing.ts` asks this router).
 */
export class StaticRouteCache<T> implements Router<T> {
  readonly name = "StaticRouteCache";
  readonly #router: Router<T> = new SmartRouter<T>({ routers: [new RegExpRouter(), new TrieRouter()] });
  readonly #staticPaths = new Set<string>();
  /** Literal paths a route (not a catch-all middleware) is registered on. */
  readonly #routePaths = new Set<string>();
  /** Handlers of the routes on those paths. */
  readonly #literalRoutes = new Set<T>();
  /** Handlers of routes with a parameter, kept out of the answers for literal paths. */
  readonly #parameterised = new Set<T>();
  /** By method, then path: no key is built per request. */
  readonly #answers = new Map<string, Map<string, Result<T>>>();

  add(method: string, path: string, handler: T): void {
    if (!path.includes(":") && !path.includes("*")) {
      this.#staticPaths.add(path);
      if (method !== "ALL") {
        this.#routePaths.add(path);
        this.#literalRoutes.add(handler);
      }
    } else if (path.includes(":")) this.#parameterised.add(handler);
    this.#router.add(method, path, handler);
  }

  match(method: string, path: string): Result<T> {
    const byPath = this.#answers.get(method);
    const known = byPath?.get(path);
    if (known !== undefined) return known;
    let answer = this.#router.match(method, path);
    if (this.#routePaths.has(path)) answer = this.#literal(answer);
    // Bounded by the route table: registered paths times the methods Node's parser accepts.
    if (this.#staticPaths.has(path)) {
      if (byPath === undefined) this.#answers.set(method, new Map([[path, answer]]));
      else byPath.set(path, answer);
    }
    return answer;
  }

  /** Where the literal path has no route for the method, the answer without parameter routes. */
  #literal(answer: Result<T>): Result<T> {
    const handlers = answer[0] as [T, unknown][];
    if (handlers.some(([h]) => this.#literalRoutes.has(h))) return answer;
    if (!handlers.some(([h]) => this.#parameterised.has(h))) return answer;
    return [handlers.filter(([h]) => !this.#parameterised.has(h)), answer[1]] as unknown as Result<T>;
  }
}
