import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { checkOwners } from "../../scripts/check-owners.js";

/**
 * The two checks `npm run lint` runs on src/ (.dependency-cruiser.cjs and scripts/check-owners.ts),
 * run on a small tree written here: a clean one passes, and each violation planted in a copy of it
 * fails with a message that names the files and says what to do.
 */
const repo = resolve(import.meta.dirname, "../..");
const run = promisify(execFile);
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const clean: Record<string, string> = {
  "tsconfig.json": JSON.stringify({
    compilerOptions: { module: "NodeNext", moduleResolution: "NodeNext", strict: true, noEmit: true },
  }),
  "src/db/owned.ts": `export function owned<T extends { name: string; owner: string }>(def: T) {
  return { ...def, col: (db: Record<string, unknown>) => db[def.name] };
}
`,
  "src/lib/clock.ts": "export const now = () => 0;\n",
  "src/users/repo.ts": `import { owned } from "../db/owned.js";
import { now } from "../lib/clock.js";
export const users = owned({ name: "users", owner: "users" });
export const findUser = (db: Record<string, unknown>) => [users.col(db), now()];
`,
  "src/policy/policy.ts": `import { findUser } from "../users/repo.js";
export const maySee = (db: Record<string, unknown>) => findUser(db).length > 0;
`,
  "src/inventory.ts": `import { users } from "./users/repo.js";
export const inventory = [users];
`,
  "src/index.ts": `import { inventory } from "./inventory.js";
import { maySee } from "./policy/policy.js";
export const main = () => [inventory, maySee({})];
`,
};

function tree(changes: Record<string, string>) {
  const root = mkdtempSync(join(tmpdir(), "hush-layers-"));
  dirs.push(root);
  for (const [path, text] of Object.entries({ ...clean, ...changes })) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

/** dependency-cruiser with the repository's rules, as `npm run lint` runs it; its output on failure. */
async function cruise(root: string): Promise<string | null> {
  const bin = join(repo, "node_modules/dependency-cruiser/bin/dependency-cruise.mjs");
  const config = join(repo, ".dependency-cruiser.cjs");
  try {
    await run(process.execPath, [bin, "src", "--config", config, "--output-type", "err-long"], { cwd: root });
    return null;
  } catch (e: any) {
    return `${e.stdout}${e.stderr}`.replace(/\s+/g, " "); // err-long wraps its messages
  }
}

describe("the layering check (dependency-cruiser)", () => {
  it("passes a tree that keeps the layers", { timeout: 120_000 }, async () => {
    expect(await cruise(tree({}))).toBeNull();
  });

  it("fails an import up the layers, a cycle and an orphan, saying what to do", {
    timeout: 120_000,
  }, async () => {
    const out = await cruise(
      tree({
        // lib/ is the lowest layer: it may not reach a capability's data.
        "src/lib/clock.ts": `import { users } from "../users/repo.js";
export const now = () => 0;
export const all = () => users;
`,
        "src/users/a.ts": 'import { b } from "./b.js";\nexport const a = () => b;\n',
        "src/users/b.ts": 'import { a } from "./a.js";\nexport const b = () => a;\n',
        "src/users/unused.ts": "export const nobody = 1;\n",
      }),
    );
    expect(out).toContain("layer-lib: src/lib/clock.ts → src/users/repo.ts");
    expect(out).toContain("Move the shared piece down");
    expect(out).toContain("no-circular");
    expect(out).toContain("cut it by moving the piece both sides need down");
    expect(out).toContain("no-orphans: src/users/unused.ts");
  });

  it("fails a folder the layer list does not name, and an import of another folder's handlers", {
    timeout: 120_000,
  }, async () => {
    const out = await cruise(
      tree({
        "src/gifts/repo.ts": 'import { now } from "../lib/clock.js";\nexport const gift = now;\n',
        "src/users/handlers.ts": 'import { gift } from "../gifts/repo.js";\nexport const h = gift;\n',
        "src/policy/policy.ts": `import { findUser } from "../users/repo.js";
import { h } from "../users/handlers.js";
export const maySee = (db: Record<string, unknown>) => findUser(db).length > 0 && h;
`,
      }),
    );
    expect(out).toContain("every-file-in-a-layer: src/gifts/repo.ts");
    expect(out).toContain("add the folder to `layers`");
    expect(out).toContain("no-private-handlers: src/policy/policy.ts → src/users/handlers.ts");
    expect(out).toContain("move the function you need out of it into a named file");
  });
});

describe("the owners check (scripts/check-owners.ts)", () => {
  it("passes a tree where only the owner and the inventory name a collection", { timeout: 60_000 }, () => {
    expect(checkOwners(tree({}))).toEqual([]);
  });

  it("fails a collection used outside its owner, naming file, collection, owner and what to do", {
    timeout: 60_000,
  }, () => {
    const root = tree({
      "src/policy/policy.ts": `import { users as people } from "../users/repo.js";
export const maySee = (db: Record<string, unknown>) => people.col(db) !== undefined;
export type Users = typeof people;
`,
    });
    const found = checkOwners(root);
    // One value use (the type-only use does not count), under its import alias.
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ file: "src/policy/policy.ts", line: 2 });
    expect(found[0]!.message).toContain('uses collection "users"');
    expect(found[0]!.message).toContain("owned by src/users/ in src/users/repo.ts");
    expect(found[0]!.message).toContain("Ask the owner through a function in src/users/repo.ts");
  });

  it("fails a declaration whose owner is not the folder that declares it", { timeout: 60_000 }, () => {
    const found = checkOwners(
      tree({ "src/users/repo.ts": clean["src/users/repo.ts"]!.replace('owner: "users"', 'owner: "people"') }),
    );
    expect(found.map((v) => v.message)).toEqual([
      expect.stringContaining('collection "users" names owner "people" but is declared in src/users/'),
    ]);
  });
});
