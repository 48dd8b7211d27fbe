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
 */
export class StaticRouteCache<T> implements Router<T> {
  readonly name = "StaticRouteCache";
  readonly #router: Router<T> = new SmartRouter<T>({ routers: [new RegExpRouter(), new TrieRouter()] });
  readonly #staticPaths = new Set<string>();
  /** By method, then path: no key is built per request. */
  readonly #answers = new Map<string, Map<string, Result<T>>>();

  add(method: string, path: string, handler: T): void {
    if (!path.includes(":") && !path.includes("*")) this.#staticPaths.add(path);
    this.#router.add(method, path, handler);
  }

  match(method: string, path: string): Result<T> {
    const byPath = this.#answers.get(method);
    const known = byPath?.get(path);
    if (known !== undefined) return known;
    const answer = this.#router.match(method, path);
    // Bounded by the route table: registered paths times the methods Node's parser accepts.
    if (this.#staticPaths.has(path)) {
      if (byPath === undefined) this.#answers.set(method, new Map([[path, answer]]));
      else byPath.set(path, answer);
    }
    return answer;
  }
}
