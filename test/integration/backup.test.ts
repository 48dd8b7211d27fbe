import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { removeStoreAddress, writeStoreAddress } from "../../src/db/store-address.js";
import { recoveryJob } from "../../src/jobs/recovery.js";
import { type LocalStore, startLocalStore } from "../../src/local-store.js";
import { admin } from "../helpers/admin.js";
import { binaryFetch, bytesOf, sha256 } from "../helpers/attachments.js";
import { type Device, decrypt, direct, newAccount, send } from "../helpers/e2e.js";
import { type Hush, startHush } from "../helpers/hush.js";

/*
 * A server on its own embedded store in a data folder, as `npm start` runs it: the test process
 * plays the server (it starts the store and writes the address file src/index.ts writes), so the
 * admin command, a child process, must reach this running store through DATA_DIR.
 */
const JWT_SECRET = "backup-test-secret-0123456789abcdef012345";
const dbName = "hush";
const folders: string[] = [];
const folder = () => {
  const dir = mkdtempSync(join(tmpdir(), "hush-backup-"));
  folders.push(dir);
  return dir;
};
const stores: LocalStore[] = [];
async function serverOn(dataDir: string) {
  const local = await startLocalStore(dataDir);
  stores.push(local);
  writeStoreAddress(dataDir, local.uri);
  return startHush({ JWT_SECRET }, { uri: local.uri, dbName });
}

let dataDir: string;
let h: Hush;
beforeAll(async () => {
  dataDir = folder();
  h = await serverOn(dataDir);
});
afterAll(async () => {
  await h?.close();
  for (const s of stores) await s.stop();
  for (const dir of folders) {
    removeStoreAddress(dir);
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A conversation's whole history, oldest first, paging back from the newest. */
async function everything(server: Hush, d: Device, conversation: string) {
  const all: any[] = [];
  let before = "";
  for (;;) {
    const page = await server.req(
      "GET",
      `/api/v1/messages/conversations/${conversation}/messages?limit=50${before}`,
      { token: d.token },
    );
    expect(page.status).toBe(200);
    all.unshift(...page.body.messages);
    if (!page.body.has_more) return all;
    before = `&before=${page.body.messages[0].id}`;
  }
}

async function stream(server: Hush, d: Device, since = 0) {
  const entries: { position: number; type: string; data: any }[] = [];
  for (;;) {
    const res = await server.req("GET", `/api/v1/sync?since=${since}&limit=500`, { token: d.token });
    expect(res.status).toBe(200);
    entries.push(...res.body.entries);
    if (!res.body.has_more) return entries;
    since = entries.at(-1)!.position;
  }
}

describe("npm run admin -- backup / restore", () => {
  it("a backup taken while messages are sent restores every acknowledged message, whole, and history and the stream go on", async () => {
    const a = await newAccount(h);
    const b = await newAccount(h);
    const conversation = await direct(h, a, b);
    // An attachment (three chunks) on the first message: its bytes must come back too.
    const photo = bytesOf(2 * 255 * 1024 + 77, "backup");
    const uploaded = await binaryFetch(h.check, `${h.url}/api/v1/attachments`, {
      method: "POST",
      token: a.token,
      body: photo,
      headers: { "content-type": "application/octet-stream" },
    });
    expect(uploaded.status).toBe(201);
    const withPhoto = await send(h, a, conversation, "a photo", { attachment_ids: [uploaded.body.id] });
    expect(withPhoto.res.status).toBe(201);

    // The sender keeps sending, one message at a time, until told to stop; every send must succeed.
    const acked = [
      { id: withPhoto.res.body.id as string, seq: withPhoto.res.body.seq as number, text: "a photo" },
    ];
    let stop = false;
    const sending = (async () => {
      for (let i = 0; !stop; i++) {
        h.clock.advance(1); // inside the 100-a-minute send limit however fast this machine is
        const text = `message ${i}`;
        const { res } = await send(h, a, conversation, text);
        expect(res.status).toBe(201);
        acked.push({ id: res.body.id, seq: res.body.seq, text });
      }
    })();
    while (acked.length < 6) await new Promise((r) => setImmediate(r));

    const before = acked.length; // acknowledged before the backup began
    const file = join(folder(), "hush.backup");
    const written = await admin("backup", [file], { DATA_DIR: dataDir, MONGODB_DB: dbName, JWT_SECRET });
    const during = acked.length - before;
    stop = true;
    await sending;
    expect(written.file).toBe(file);
    expect(during).toBeGreaterThan(0); // the sends went on throughout the backup

    const fresh = folder();
    const restored = await admin("restore", [file], { DATA_DIR: fresh, MONGODB_DB: dbName, JWT_SECRET });
    expect(restored.data_dir).toBe(fresh);
    const r = await serverOn(fresh);
    try {
      // A send the snapshot caught half way is recorded in the copy: the restored server's recovery
      // sweep finishes it once its lease has passed, as after a crash (docs/storage.md).
      // (The sender's server ran its own clock ahead, a second a send: this one catches up with it.)
      const records = r.raw("client_message_ids");
      for (const p of await records.find({ op: { $exists: true } }).toArray()) {
        const ahead = (p.lease_until.getTime() - r.clock.now().getTime()) / 1000;
        if (ahead >= 0) r.clock.advance(ahead + 1);
      }
      await recoveryJob.run(r.deps, r.clock.now());
      expect(await r.raw("client_message_ids").countDocuments({ op: { $exists: true } })).toBe(0);
      // Every message acknowledged before the backup began, in order; whatever else is there is whole.
      const history = await everything(r, b, conversation);
      const ids = history.map((m) => m.id);
      expect(ids.slice(0, before)).toEqual(acked.slice(0, before).map((m) => m.id));
      expect(ids).toEqual(acked.slice(0, ids.length).map((m) => m.id));
      for (const [i, m] of history.entries()) expect(decrypt(b, m)).toBe(acked[i]!.text);
      const page = await r.req("GET", `/api/v1/messages/conversations/${conversation}/messages?limit=1`, {
        token: b.token,
      });
      expect(page.body.total).toBe(history.length); // the counters agree with what is stored
      const download = await binaryFetch(r.check, `${r.url}/api/v1/attachments/${uploaded.body.id}`, {
        token: b.token,
      });
      expect(download.status).toBe(200);
      expect(sha256(download.bytes)).toBe(sha256(photo));

      // B's stream holds a new_message for each, and continues past them.
      const entries = await stream(r, b);
      const told = entries
        .filter((e) => e.type === "new_message")
        .map((e) => e.data.id ?? e.data.message?.id);
      expect(told).toEqual(ids);
      const last = entries.at(-1)!.position;
      r.clock.advance(120);
      const next = await send(r, a, conversation, "after the restore");
      expect(next.res.status).toBe(201);
      expect(next.res.body.seq).toBeGreaterThan(history.at(-1).seq);
      const after = await stream(r, b, last);
      expect(after.map((e) => e.type)).toContain("new_message");
      expect(after[0]!.position).toBeGreaterThan(last);
      const again = await everything(r, b, conversation);
      expect(decrypt(b, again.at(-1))).toBe("after the restore");
    } finally {
      await r.close();
    }
  });

  it("refuses a restore into a folder that holds a database, and backup on MongoDB with the mongodump advice", async () => {
    const file = join(folder(), "hush.backup");
    await admin("backup", [file], { DATA_DIR: dataDir, MONGODB_DB: dbName, JWT_SECRET });
    const run = promisify(execFile);
    const root = new URL("../..", import.meta.url).pathname;
    const fail = (args: string[], env: Record<string, string>) =>
      run(process.execPath, ["--import", "tsx", "scripts/admin.ts", ...args], {
        cwd: root,
        env: { PATH: process.env.PATH ?? "", ...env },
      }).then(
        () => {
          throw new Error("the command succeeded");
        },
        (err: { code: number; stderr: string }) => err,
      );
    const occupied = await fail(["restore", file], { DATA_DIR: dataDir, MONGODB_DB: dbName });
    expect(occupied.code).toBe(1);
    expect(occupied.stderr).toMatch(/a server runs on DATA_DIR/);
    const mongo = await fail(["backup", file], { MONGODB_URI: inject("mongoUri"), MONGODB_DB: dbName });
    expect(mongo.code).toBe(1);
    expect(mongo.stderr).toMatch(/mongodump --uri="\$MONGODB_URI" --oplog/);
  });
});
