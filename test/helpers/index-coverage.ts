/**
 * Decides, from a command document as the driver sends it, whether MongoDB can serve each query in
 * it from an index Hush declares. Pure: no database, no driver. The local FerretDB store ignores
 * indexes for anything but `_id`, so this is how the test suite keeps the cost right on MongoDB.
 *
 * The rule (ESR: equality, sort, range). A query shape is covered by an index when, taking the
 * index's keys in order,
 *   1. the equality fields of the filter are exactly its first keys, in any order;
 *   2. the sort fields come next, in the sort's order, all directions matching or all reversed
 *      (a sort on a field the filter pins by equality needs no key);
 *   3. the range fields are the keys right after those (a range field that is also sorted on is
 *      served by its sort key).
 * So every field the filter or sort uses lies in one index prefix. Two shortcuts, both point
 * lookups that reach at most one document per value: equality on every key of a unique index
 * covers the shape whatever else it filters or sorts on (the implicit unique `_id` index makes this
 * "`_id` equality is always covered"). An empty filter without a sort is a collection scan and is
 * never covered. Each branch of an `$or` must be covered on its own, with the fields outside the
 * `$or` added; `$and` merges its parts.
 *
 * Operators: a plain value, `$eq` and `$in` are equality. `$in` is counted as equality for sorts
 * too: MongoDB serves a short `$in` followed by a sort by merging one sorted index scan a value
 * (up to 200 values), so the index that serves the equality serves the sort. Everything else
 * (`$gt`, `$gte`, `$lt`, `$lte`, `$ne`, `$nin`, `$exists`, `$regex`, regular expressions, `$not`,
 * `$elemMatch`, fields under `$nor`) is range. `$expr`, `$where`, `$text` and the like need what
 * this model does not have, so they make the shape uncovered. Dotted paths are plain fields.
 *
 * Commands: find (filter, sort; none for a tailable find on a capped collection), update (each `updates[i].q`, `sort`), delete (each
 * `deletes[i].q`), findAndModify (query, sort), count (query; none is a metadata count and needs no
 * index), distinct (query), aggregate (a leading `$match`, then a `$sort` right at the start or
 * right after it; countDocuments arrives this way). Commands without a query are ignored.
 */

export type Direction = 1 | -1;
export interface DeclaredIndex {
  collection: string;
  key: Record<string, unknown>;
  unique?: boolean;
}
export interface Shape {
  collection: string;
  command: string;
  eq: string[];
  range: string[];
  sort: [string, Direction][];
  /** Operators no index in this model serves ($expr, $where, $text, a $meta sort). */
  unindexable: string[];
}
type Doc = Record<string, unknown>;
interface Branch {
  eq: Set<string>;
  range: Set<string>;
  unindexable: Set<string>;
}

/** The inventory's declared indexes as the checker reads them, with each expiring collection's `expires_at` index. */
export function declaredIndexes(
  inventory: readonly {
    name: string;
    expires: boolean;
    indexes: { key: Record<string, unknown>; options?: { unique?: boolean } }[];
  }[],
): DeclaredIndex[] {
  return inventory.flatMap((c) => [
    ...c.indexes.map((i) => ({ collection: c.name, key: i.key, unique: i.options?.unique === true })),
    ...(c.expires ? [{ collection: c.name, key: { expires_at: 1 } }] : []),
  ]);
}

const metaStages = new Set([
  "$collStats",
  "$indexStats",
  "$currentOp",
  "$listSessions",
  "$listLocalSessions",
  "$planCacheStats",
  "$documents",
  "$changeStream",
]);

/** The query shapes a command carries: one a filter, one an `$or` branch; none for commands without a query. */
export function shapesOf(command: Doc): Shape[] {
  const name = Object.keys(command)[0] ?? "";
  const collection = command[name];
  if (typeof collection !== "string") return [];
  const of = (filter: unknown, sort?: unknown) => shapes(collection, name, asDoc(filter), asDoc(sort));
  switch (name) {
    case "find":
      // A tailable cursor reads a capped collection in insertion order, which no index serves or
      // needs to: MongoDB refuses any other plan for it.
      if (command.tailable === true) return [];
      return of(command.filter, command.sort);
    case "findAndModify":
      return of(command.query, command.sort);
    case "update":
      return (command.updates as Doc[]).flatMap((u) => of(u.q, u.sort));
    case "delete":
      return (command.deletes as Doc[]).flatMap((d) => of(d.q));
    case "count":
      return Object.keys(asDoc(command.query)).length ? of(command.query) : [];
    case "distinct":
      return of(command.query);
    case "aggregate": {
      const [first, second] = (command.pipeline as Doc[] | undefined) ?? [];
      const stage = first && Object.keys(first)[0];
      if (!first || !stage || metaStages.has(stage)) return [];
      if (stage === "$match") return of(first.$match, second?.$sort);
      if (stage === "$sort") return of({}, first.$sort);
      return of({});
    }
    default:
      return [];
  }
}

function shapes(collection: string, command: string, filter: Doc, sortDoc: Doc): Shape[] {
  const unindexableSort: string[] = [];
  const sort: [string, Direction][] = [];
  for (const [field, dir] of Object.entries(sortDoc)) {
    if (dir === 1 || dir === -1) sort.push([field, dir]);
    else unindexableSort.push(`sort ${field}`);
  }
  return branchesOf(filter).map((b) => ({
    collection,
    command,
    eq: [...b.eq].sort(),
    range: [...b.range].filter((f) => !b.eq.has(f)).sort(),
    sort,
    unindexable: [...b.unindexable, ...unindexableSort].sort(),
  }));
}

const emptyBranch = (): Branch => ({ eq: new Set(), range: new Set(), unindexable: new Set() });
const merge = (a: Branch, b: Branch): Branch => ({
  eq: new Set([...a.eq, ...b.eq]),
  range: new Set([...a.range, ...b.range]),
  unindexable: new Set([...a.unindexable, ...b.unindexable]),
});
const cross = (as: Branch[], bs: Branch[]) => as.flatMap((a) => bs.map((b) => merge(a, b)));

function branchesOf(filter: Doc): Branch[] {
  let branches = [emptyBranch()];
  const own = emptyBranch();
  for (const [key, value] of Object.entries(filter)) {
    if (key === "$and") {
      for (const part of value as Doc[]) branches = cross(branches, branchesOf(part));
    } else if (key === "$or") {
      branches = cross(
        branches,
        (value as Doc[]).flatMap((part) => branchesOf(part)),
      );
    } else if (key === "$nor") {
      // A negation narrows nothing down: every field under it is at best a range.
      for (const b of (value as Doc[]).flatMap((part) => branchesOf(part))) {
        for (const f of [...b.eq, ...b.range]) own.range.add(f);
        for (const u of b.unindexable) own.unindexable.add(u);
      }
    } else if (key === "$comment") {
      // carries no condition
    } else if (key.startsWith("$")) {
      own.unindexable.add(key);
    } else {
      (isEquality(value) ? own.eq : own.range).add(key);
    }
  }
  return cross(branches, [own]);
}

function isOperatorDoc(v: unknown): v is Doc {
  if (v === null || typeof v !== "object") return false;
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return false;
  const keys = Object.keys(v);
  return keys.length > 0 && keys.every((k) => k.startsWith("$"));
}

function isEquality(value: unknown): boolean {
  if (isOperatorDoc(value)) return "$eq" in value || "$in" in value;
  if (value instanceof RegExp) return false;
  if ((value as { _bsontype?: string } | null)?._bsontype === "BSONRegExp") return false;
  return true; // a value, an embedded document, an ObjectId, a Date
}

/** The driver sends sorts as a Map, filters as plain objects. */
function asDoc(v: unknown): Doc {
  if (v instanceof Map) return Object.fromEntries(v);
  return v !== null && typeof v === "object" ? (v as Doc) : {};
}

/** Whether one index serves the shape, by the ESR rule above. */
export function indexServes(index: DeclaredIndex, shape: Shape): boolean {
  const keys = Object.entries(index.key);
  // Text, hashed and geo indexes are outside this model: they serve no shape here.
  if (!keys.length || keys.some(([, d]) => d !== 1 && d !== -1)) return false;
  const eq = new Set(shape.eq);
  if (index.unique && keys.every(([f]) => eq.has(f))) return true;
  if (shape.unindexable.length) return false;
  const sort = shape.sort.filter(([f]) => !eq.has(f));
  const range = shape.range.filter((f) => !sort.some(([s]) => s === f));
  if (!eq.size && !sort.length && !range.length) return false;

  let at = 0;
  const take = (n: number) => {
    const part = keys.slice(at, at + n);
    at += n;
    return part.length === n ? part : null;
  };
  const head = take(eq.size);
  if (!head?.every(([f]) => eq.has(f))) return false;
  const sorted = take(sort.length);
  if (!sorted) return false;
  const same = sorted.every(([f, d], i) => f === sort[i]![0] && d === sort[i]![1]);
  const reversed = sorted.every(([f, d], i) => f === sort[i]![0] && d === -sort[i]![1]);
  if (!same && !reversed) return false;
  const tail = take(range.length);
  return !!tail?.every(([f]) => range.includes(f));
}

/** The implicit `_id` index plus the declared ones, for each collection. */
export function isCovered(shape: Shape, indexes: DeclaredIndex[]): boolean {
  const idIndex: DeclaredIndex = { collection: shape.collection, key: { _id: 1 }, unique: true };
  return [idIndex, ...indexes.filter((i) => i.collection === shape.collection)].some((i) =>
    indexServes(i, shape),
  );
}

export function uncoveredShapes(command: Doc, indexes: DeclaredIndex[]): Shape[] {
  return shapesOf(command).filter((s) => !isCovered(s, indexes));
}

const name = (f: string) => (/^[A-Za-z_][\w]*$/.test(f) ? f : JSON.stringify(f));

/** e.g. `users.find {email:eq, "privacy.discoverable_by_email":eq} sort {}` */
export function describeShape(s: Shape): string {
  const fields = [
    ...s.eq.map((f) => `${name(f)}:eq`),
    ...s.range.map((f) => `${name(f)}:range`),
    ...s.unindexable.map((u) => `${u}:unindexable`),
  ];
  const sort = s.sort.map(([f, d]) => `${name(f)}:${d}`);
  return `${s.collection}.${s.command} {${fields.join(", ")}} sort {${sort.join(", ")}}`;
}
