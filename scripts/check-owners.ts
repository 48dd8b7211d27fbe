/**
 * A collection is touched only by its owner (issue 28). Each collection is declared with `owned()`
 * (src/db/owned.ts) in a file of its owning folder; this finds every value reference to such a
 * declaration from another folder, which dependency-cruiser cannot see (it sees files, not names).
 * Allowed outside the owner: src/inventory.ts (the list of everything stored) and src/compose.ts
 * (start-up); tests are not checked. It also checks that the `owner` an owned() names is the folder
 * that declares it (docs/storage.md is generated from that field).
 *
 * Run by `npm run lint`: `node --import tsx scripts/check-owners.ts [root]` (root holds src/ and
 * tsconfig.json; default: this repository). Exits 1 and prints what to do on a violation.
 */
import { readdirSync } from "node:fs";
import { join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

/** Files that may name any collection: the inventory and start-up. */
const allowedEverywhere = ["src/inventory.ts", "src/compose.ts"];

/**
 * Declarations let keep an `owner` that is not their folder, as `folder/file.ts: owner` (a folder
 * being split, until its owner fields catch up); none today.
 */
const knownOwnerMismatches: string[] = [];

export interface Violation {
  file: string;
  line: number;
  message: string;
}

interface Declaration {
  collection: string;
  variable: string;
  folder: string;
  file: string;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return e.name.endsWith(".ts") && !e.name.endsWith(".d.ts") ? [path] : [];
  });
}

/** `src/<folder>/...` → folder; a file directly in src/ has none. */
function folderOf(file: string): string | undefined {
  const parts = file.split("/");
  return parts.length > 2 ? parts[1] : undefined;
}

function stringProperty(obj: ts.ObjectLiteralExpression, key: string): string | undefined {
  for (const p of obj.properties) {
    if (ts.isPropertyAssignment(p) && p.name.getText() === key && ts.isStringLiteralLike(p.initializer)) {
      return p.initializer.text;
    }
  }
  return undefined;
}

/** True where an identifier names a type (`typeof x` in a type, a type annotation), not a value. */
function inTypePosition(node: ts.Node): boolean {
  for (let n: ts.Node | undefined = node.parent; n && !ts.isStatement(n); n = n.parent) {
    if (ts.isTypeNode(n)) return true;
  }
  return false;
}

export function checkOwners(root: string): Violation[] {
  const rootNames = sourceFiles(join(root, "src"));
  const program = ts.createProgram(rootNames, {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    allowImportingTsExtensions: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
  });
  const checker = program.getTypeChecker();
  const rel = (f: ts.SourceFile) => relative(root, f.fileName).split(sep).join("/");
  const ours = program.getSourceFiles().filter((f) => rel(f).startsWith("src/"));
  const violations: Violation[] = [];
  const where = (f: ts.SourceFile, node: ts.Node) =>
    f.getLineAndCharacterOfPosition(node.getStart()).line + 1;

  // Every `const x = owned(...)` and the folder that declares it.
  const declarations = new Map<ts.Symbol, Declaration>();
  for (const f of ours) {
    const folder = folderOf(rel(f));
    const visit = (node: ts.Node) => {
      if (
        ts.isVariableDeclaration(node) &&
        ts.isIdentifier(node.name) &&
        node.initializer &&
        ts.isCallExpression(node.initializer) &&
        ts.isIdentifier(node.initializer.expression) &&
        node.initializer.expression.text === "owned"
      ) {
        const arg = node.initializer.arguments[0];
        const obj = arg && ts.isObjectLiteralExpression(arg) ? arg : undefined;
        const collection = (obj && stringProperty(obj, "name")) ?? node.name.text;
        const owner = obj && stringProperty(obj, "owner");
        const symbol = checker.getSymbolAtLocation(node.name);
        if (!folder) {
          violations.push({
            file: rel(f),
            line: where(f, node),
            message: `collection "${collection}" is declared outside a feature folder: declare it in its owner's repo file (src/<owner>/repo.ts).`,
          });
        } else if (symbol) {
          declarations.set(symbol, { collection, variable: node.name.text, folder, file: rel(f) });
        }
        if (
          folder &&
          owner !== undefined &&
          owner !== folder &&
          !knownOwnerMismatches.includes(`${rel(f)}: ${owner}`)
        ) {
          violations.push({
            file: rel(f),
            line: where(f, node),
            message: `collection "${collection}" names owner "${owner}" but is declared in src/${folder}/: set owner: "${folder}" (docs/storage.md is generated from it), or move the declaration to src/${owner}/.`,
          });
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(f);
  }

  // Every value reference to one of them from another folder. Only identifiers spelled like a
  // declaration (or imported under another name) are resolved: asking the checker about every
  // identifier costs seconds.
  const names = new Set([...declarations.values()].map((d) => d.variable));
  for (const f of ours) {
    for (const s of f.statements) {
      const bindings = ts.isImportDeclaration(s) ? s.importClause?.namedBindings : undefined;
      if (bindings && ts.isNamedImports(bindings)) {
        for (const e of bindings.elements)
          if (names.has((e.propertyName ?? e.name).text)) names.add(e.name.text);
      }
    }
  }
  for (const f of ours) {
    const file = rel(f);
    if (allowedEverywhere.includes(file)) continue;
    const folder = folderOf(file);
    const visit = (node: ts.Node) => {
      if (
        ts.isIdentifier(node) &&
        names.has(node.text) &&
        !ts.isImportSpecifier(node.parent) &&
        !ts.isImportClause(node.parent)
      ) {
        let symbol = checker.getSymbolAtLocation(node);
        if (symbol && symbol.flags & ts.SymbolFlags.Alias) symbol = checker.getAliasedSymbol(symbol);
        const decl = symbol && declarations.get(symbol);
        if (decl && decl.folder !== folder && !inTypePosition(node)) {
          violations.push({
            file,
            line: where(f, node),
            message:
              `uses collection "${decl.collection}" (${decl.variable}, owned by src/${decl.folder}/ in ${decl.file}): ` +
              `only its owner reads or writes it. Ask the owner through a function in ${decl.file} ` +
              `(add one there if none fits) instead of touching the collection.`,
          });
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(f);
  }
  return violations;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(process.argv[2] ?? join(fileURLToPath(import.meta.url), "../.."));
  const violations = checkOwners(root);
  for (const v of violations) console.error(`${v.file}:${v.line}: ${v.message}`);
  if (violations.length) {
    console.error(`\n${violations.length} collection ownership violation(s) (scripts/check-owners.ts)`);
    process.exit(1);
  }
  console.log("owners: every collection is touched only by its owner");
}
