import { type Db, MongoClient } from "mongodb";
import { describeShape, shapesOf } from "./index-coverage.js";

/**
 * On the local store, the plan of every query the app sends must read only what its answer needs
 * (docs/stores.md, "Every query served by an index", the local store's rule). FerretDB's `explain`
 * runs SQLite's EXPLAIN QUERY PLAN on the very SQL the store sends, and says what it pushed down.
 *
 * The rule, for each query (a find's filter, sort and limit; the filter of an update, delete,
 * findAndModify, count, distinct or an aggregate's leading $match, explained as a find):
 *   1. a non-empty filter is pushed down (`filterPushdown`), and
 *   2. no step of the plan is a `SCAN` (every table or index read is a `SEARCH`), and
 *   3. a find with a sort and a limit has its limit pushed down (`limitPushdown`): SQLite stops at
 *      the page, where otherwise every match is read, decoded and sorted in Go.
 * An empty plan (the collection does not exist yet) reads nothing and passes. Conditions the store
 * cannot push (dotted paths, nulls, `$ne`, ...) are filtered among what the pushed ones select: the
 * rule holds as long as one condition is an index search. Tailable finds and commands without a
 * query are not looked at. The exceptions the store does not serve yet are listed in `KNOWN`, each
 * with its reason; any other query that breaks the rule fails its test file.
 */

type Doc = Record<string, unknown>;

/** What one query asks the store: its collection, filter, sort and limit (0: none). */
export interface Query {
  collection: string;
  filter: Doc;
  sort: Doc;
  limit: number;
  /** find, or the command whose filter is explained as one. */
  command: string;
}

/** The query of a command as FerretDB's explain can take it (as a find), if it has one. */
export function queryOf(command: Doc): Query | null {
  const name = Object.keys(command)[0] ?? "";
  const collection = command[name];
  if (typeof collection !== "string") return null;
  const q = (filter: unknown, sort?: unknown, limit?: unknown): Query => ({
    collection,
    command: name,
    filter: (filter ?? {}) as Doc,
    sort: name === "find" ? ((sort ?? {}) as Doc) : {},
    limit: name === "find" && typeof limit === "number" ? limit : 0,
  });
  switch (name) {
    case "find":
      return command.tailable === true ? null : q(command.filter, command.sort, command.limit);
    case "findAndModify":
      return q(command.query);
    case "update": {
      const [u] = command.updates as Doc[];
      return (command.updates as Doc[]).length === 1 && u ? q(u.q) : null;
    }
    case "delete": {
      const [d] = command.deletes as Doc[];
      return (command.deletes as Doc[]).length === 1 && d ? q(d.q) : null;
    }
    case "count":
    case "distinct":
      return Object.keys((command.query ?? {}) as Doc).length ? q(command.query) : null;
    case "aggregate": {
      const [first] = (command.pipeline as Doc[] | undefined) ?? [];
      return first && "$match" in first ? q(first.$match) : null;
    }
    default:
      return null;
  }
}

/** What breaks the rule in an explain answer for q, or null when nothing does. */
export function judgePlan(explained: Doc, q: Query): string | null {
  const planner = (explained.queryPlanner ?? {}) as { Plan?: string[] };
  const plan = (planner.Plan ?? []).join("; ");
  if (!plan) return null;
  if (Object.keys(q.filter).length && explained.filterPushdown !== true) {
    return `its filter is not pushed down (plan: ${plan})`;
  }
  if (/\bSCAN\b/.test(plan)) return `its plan scans (plan: ${plan})`;
  if (Object.keys(q.sort).length && q.limit > 0 && explained.limitPushdown !== true) {
    return `its sort and limit are applied in Go to every match (plan: ${plan})`;
  }
  return null;
}

/**
 * Explains q on db as FerretDB would run it, and judges it. The query runs first (once, limit 1) on
 * the same connection: a pooled SQLite connection may not see an index created since it last ran a
 * statement, and EXPLAIN alone does not refresh it (test/store/lookup-index.test.ts).
 */
export async function checkPlan(db: Db, q: Query): Promise<string | null> {
  await db.collection(q.collection).find(q.filter).limit(1).toArray();
  const explained = await db.command({
    explain: {
      find: q.collection,
      filter: q.filter,
      ...(Object.keys(q.sort).length ? { sort: q.sort } : {}),
      ...(q.limit > 0 ? { limit: q.limit } : {}),
    },
  });
  return judgePlan(explained, q);
}

/** The shape of q, as the index check names it, with its limit: what a plan is remembered by. */
export function planKey(command: Doc, q: Query): string {
  const shapes = shapesOf(command).map(describeShape);
  return `${shapes.join(" | ") || `${q.collection}.${q.command} {}`}${q.limit > 0 ? ` limit` : ""}`;
}

/**
 * Checks the plan of each query shape once, after its first command has succeeded (at its start the
 * collection, or an index the store adds with it, may not exist yet). One client per store address,
 * so every test file's app (and its own stores) can be explained.
 */
export class PlanWatch {
  private clients = new Map<string, MongoClient>();
  private seen = new Set<string>();
  private pending = new Map<
    number,
    { key: string; q: Query; address: string; dbName: string; from: string }
  >();
  private checked: Promise<string | null>[] = [];

  /** A command started: remembered if its query's shape is new. */
  started(requestId: number, address: string, dbName: string, command: Doc, origin: () => string): void {
    const q = queryOf(command);
    if (!q) return;
    const key = planKey(command, q);
    if (KNOWN.has(key) || this.seen.has(key)) return;
    this.seen.add(key);
    this.pending.set(requestId, { key, q, address, dbName, from: origin() });
  }

  /** A command ended: its plan is checked if it was remembered and succeeded. */
  ended(requestId: number, succeeded: boolean): void {
    const p = this.pending.get(requestId);
    if (!p) return;
    this.pending.delete(requestId);
    if (!succeeded) {
      this.seen.delete(p.key); // checked with a later command of the shape
      return;
    }
    this.checked.push(
      checkPlan(this.clientFor(p.address).db(p.dbName), p.q).then(
        (why) => (why ? `${p.key}\n    ${why}\n    from ${p.from}` : null),
        () => null, // the database went away with its test: nothing to judge
      ),
    );
  }

  /** The queries that broke the rule since the last call; closes the clients. */
  async report(): Promise<string[]> {
    const found = (await Promise.all(this.checked)).filter((v): v is string => v !== null);
    this.checked = [];
    this.pending.clear();
    this.seen.clear();
    await Promise.all([...this.clients.values()].map((c) => c.close()));
    this.clients.clear();
    return found;
  }

  private clientFor(address: string): MongoClient {
    let client = this.clients.get(address);
    if (!client) {
      client = new MongoClient(`mongodb://${address}/?directConnection=true`, {
        serverSelectionTimeoutMS: 2_000,
        maxPoolSize: 1,
      });
      this.clients.set(address, client);
    }
    return client;
  }
}

/**
 * Queries the local store does not serve by the rule yet, by shape (as reported), with why. Each is
 * in docs/stores.md ("Known limits of the local store").
 */
export const KNOWN = new Map<string, string>([
  [
    'conversations.update {"last_message.sender_id":eq} sort {}',
    "an account's erasure: conditions on a dotted path are not pushed (twin indexes stop at one)",
  ],
  [
    "admin_audit.find {} sort {_id:-1} limit",
    "the operator's audit list: a sort on _id is not handed to SQLite",
  ],
  ["invites.find {} sort {_id:1} limit", "the operator's invite list: a sort on _id is not handed to SQLite"],
  ["users.find {} sort {_id:1} limit", "the operator's user list: a sort on _id is not handed to SQLite"],
  ["users.find {email:range} sort {} limit", "the operator's user search: a $regex prefix is not pushed"],
  [
    "users.find {username_lower:range} sort {} limit",
    "the operator's user search: a $regex prefix is not pushed",
  ],
]);
