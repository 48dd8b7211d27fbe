// Which parts of src/ may import which (issue 28), checked by `npm run lint`. The layers are data:
// lowest first; a file may import its own folder, the folders of lower layers, and the folders of
// its own layer only where the layer says `peers`.
//
// Each capability folder has three kinds of file, and they sit at different heights:
// - its contract (`routes.ts`, `schemas.ts`: zod shapes) sits low, just above the infrastructure:
//   any code may read another folder's shapes, and a contract reads only contracts and lower layers;
// - its surface (`handlers.ts`, `index.ts` wiring, `present.ts`: how it answers, `notices.ts`: what
//   it tells other devices through delivery's door) sits at the top, under the entry files: handlers
//   ask the policy module, record changes and call the data of every folder below;
// - everything else (its data and its rules) sits at the folder's layer below.
// `deps.ts` is the bag of dependencies: every file may import its type, and it imports types only.

/** Lowest first. `peers`: folders of the layer may import one another. */
const layers = [
  { name: "lib", folders: ["lib"] },
  { name: "http", folders: ["http"] },
  { name: "infrastructure", folders: ["config.ts", "db", "mail"] },
  { name: "infrastructure users", folders: ["limits", "recovery"] },
  { name: "contracts" }, // every folder's routes.ts and schemas.ts
  { name: "devices", folders: ["devices"] },
  { name: "blocks", folders: ["blocks"] },
  { name: "contacts", folders: ["contacts"] },
  { name: "users", folders: ["users"] },
  { name: "accounts", folders: ["auth", "sessions", "keys", "invites", "ops"] },
  { name: "push", folders: ["push"] }, // subscriptions and the Web Push protocol; delivery wakes through it
  { name: "policy", folders: ["policy"] },
  { name: "delivery", folders: ["delivery"] },
  { name: "conversations", folders: ["conversations"] },
  { name: "attachments", folders: ["attachments"] },
  { name: "messages", folders: ["messages"] },
  { name: "realtime", folders: ["realtime"] },
  { name: "linking", folders: ["linking"] },
  { name: "jobs and admin", folders: ["jobs", "admin"] },
  { name: "surfaces" }, // every folder's handlers.ts, index.ts, present.ts and notices.ts
  {
    name: "entry",
    files: [
      "app.ts",
      "server.ts",
      "compose.ts",
      "index.ts",
      "inventory.ts",
      "openapi-doc.ts",
      "local-store.ts",
      "pipeline.ts", // what every request gets, in order (issue 28: named from app.ts and server.ts)
    ],
  },
];

const contract = "^src/[^/]+/(routes|schemas)[.]ts$";
const surface = "^src/[^/]+/(handlers|index|present|notices)[.]ts$";
const kindOfFile = `${contract}|${surface}`;
const literal = (name) => name.replace(/[.]/g, "[.]");
/** A layer's files: `src/<folder>/...` or `src/<file>.ts`, the folder or file as group 1. */
function pathsOf(layer) {
  if (layer.name === "contracts") return contract;
  if (layer.name === "surfaces") return surface;
  const names = [...(layer.folders ?? []), ...(layer.files ?? [])].map(literal);
  return `^src/(${names.join("|")})(/|$)`;
}
const contractsAt = layers.findIndex((l) => l.name === "contracts");
const above = (i) => layers.slice(i + 1).map(pathsOf);

/**
 * Exceptions to the layers, each a file pair with its reason ({ rules, from, to }); none today.
 * An import that breaks a layer is better moved than excepted.
 */
const exceptions = [];

/** Cycles let pass, each named by one file it runs through ({ through }); none today. */
const knownCycles = [];

const inLayers = [...layers.map(pathsOf), "^src/deps[.]ts$"].join("|");
const slug = (name) => name.replace(/ /g, "-");
/** A rule, split so that an excepted file may make its excepted import and nothing else. */
function withExceptions(rule) {
  const own = exceptions.filter((e) => e.rules.includes(rule.name));
  if (!own.length) return [rule];
  const pathNot = [rule.from.pathNot ?? []].flat();
  return [
    { ...rule, from: { ...rule.from, pathNot: [...pathNot, ...own.map((e) => e.from)] } },
    ...own.map((e) => ({
      ...rule,
      name: `${rule.name}-except`,
      from: { ...rule.from, path: e.from },
      to: { ...rule.to, pathNot: [...[rule.to.pathNot ?? []].flat(), e.to] },
    })),
  ];
}

const layerRules = layers.flatMap((layer, i) => {
  if (!layer.folders && !layer.files) return [];
  const from = { path: pathsOf(layer), pathNot: kindOfFile };
  const rules = [];
  if (layer.name !== "entry") {
    rules.push({
      name: `layer-${slug(layer.name)}`,
      comment:
        `"${layer.name}" is layer ${i + 1} of ${layers.length} (lowest first, in .dependency-cruiser.cjs): ` +
        "it imports its own folder and lower layers (contracts: routes.ts, schemas.ts are low), never a higher one. Move the shared " +
        "piece down (a type or helper into lib/ or into the lower owner's file), or let the higher " +
        "layer call down into this one and pass what it needs.",
      severity: "error",
      from,
      // Layers above the contracts read them; those below do not.
      to: { path: above(i), pathNot: i > contractsAt ? [contract, "^src/$1/"] : "^src/$1/" },
    });
  }
  if ((layer.folders?.length ?? 0) > 1 && !layer.peers) {
    rules.push({
      name: `peers-${slug(layer.name)}`,
      comment:
        `The folders of ${layer.name} (${layer.folders.join(", ")}) do not import one another: ` +
        "move the shared piece down a layer, or give them an order in the layer list.",
      severity: "error",
      from,
      to: { path: pathsOf(layer), pathNot: ["^src/$1(/|$)", contract] },
    });
  }
  return rules.flatMap(withExceptions);
});

module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: "every-file-in-a-layer",
      comment:
        "A file in a folder the layer list does not name: add the folder to `layers` in " +
        ".dependency-cruiser.cjs, at the height of what it imports and below what imports it.",
      severity: "error",
      from: { path: "^src/", pathNot: inLayers },
      to: {},
    },
    {
      name: "every-import-in-a-layer",
      comment:
        "An import of a file in a folder the layer list does not name: add the folder to `layers` in " +
        ".dependency-cruiser.cjs, at the height of what it imports and below what imports it.",
      severity: "error",
      from: { path: "^src/" },
      to: { path: "^src/", pathNot: inLayers },
    },
    {
      name: "contract-imports-contracts",
      comment:
        "A contract (routes.ts, schemas.ts) is read by every layer, so it imports only other contracts " +
        "and lib/, http/, config: move the shape it needs into a schemas.ts, or the value into config.",
      severity: "error",
      from: { path: "^src/([^/]+)/(routes|schemas)[.]ts$" },
      to: {
        path: "^src/",
        pathNot: [
          "^src/$1/",
          contract,
          pathsOf(layers[0]),
          pathsOf(layers[1]),
          pathsOf(layers[2]),
          "^src/deps[.]ts$",
        ],
      },
    },
    {
      name: "surface-below-entry",
      comment:
        "Handlers, wiring and presenters sit under the entry files (app.ts, server.ts, compose.ts...): " +
        "take what you need as a dependency (deps) instead of importing the app.",
      severity: "error",
      from: { path: surface },
      to: { path: pathsOf(layers.at(-1)) },
    },
    ...withExceptions({
      name: "no-private-handlers",
      comment:
        "Another folder's handlers.ts and index.ts are its own (reached through its router, from " +
        "app.ts): move the function you need out of it into a named file of that folder and import that.",
      severity: "error",
      from: { path: "^src/([^/]+)/" },
      to: { path: "^src/[^/]+/(handlers|index)[.]ts$", pathNot: "^src/$1/" },
    }),
    {
      name: "deps-is-a-type",
      comment:
        "deps.ts is the type of the dependency bag: import it with `import type`; the values are built " +
        "in compose.ts and passed in.",
      severity: "error",
      from: { path: "^src/" },
      to: { path: "^src/deps[.]ts$", dependencyTypesNot: ["type-only"] },
    },
    {
      name: "deps-imports-types",
      comment: "deps.ts declares the bag's type only: import the types it names with `import type`.",
      severity: "error",
      from: { path: "^src/deps[.]ts$" },
      to: { dependencyTypesNot: ["type-only"] },
    },
    {
      name: "no-circular",
      comment:
        "An import cycle: cut it by moving the piece both sides need down into a file that imports " +
        "neither (a type into its own file, a helper into lib/).",
      severity: "error",
      from: {},
      to: knownCycles.length
        ? { circular: true, viaOnly: { pathNot: knownCycles.map((c) => c.through).join("|") } }
        : { circular: true },
    },
    {
      name: "no-orphans",
      comment: "A file nothing imports: delete it, or import it where it is used.",
      severity: "error",
      from: { orphan: true, pathNot: ["[.]d[.]ts$"] },
      to: {},
    },
    {
      name: "no-test-code-in-src",
      comment:
        "src/ never imports tests, benches or scripts: move the shared piece into src/ and import it from there.",
      severity: "error",
      from: { path: "^src/" },
      to: { path: "^(test|bench|scripts)/" },
    },
    {
      name: "no-dev-dependencies-in-src",
      comment:
        "src/ runs in production, where devDependencies are not installed: move the package to " +
        "dependencies (npm install --save) or keep its use in test/, bench/ or scripts/.",
      severity: "error",
      from: { path: "^src/" },
      to: { dependencyTypes: ["npm-dev"], dependencyTypesNot: ["type-only"] },
    },
  ],
  options: {
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    doNotFollow: { path: "node_modules" },
  },
};
