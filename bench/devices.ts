import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ed25519 } from "@noble/curves/ed25519.js";
import { ObjectId } from "mongodb";
import { connectStore } from "../src/db/store.js";
import type { Deps } from "../src/deps.js";
import { accountKeys } from "../src/devices/account-keys.js";
import { verifyLink, verifyLinkUncached } from "../src/devices/linking.js";
import { type DeviceDoc, devices, listDevicesOf } from "../src/devices/repo.js";
import { inventory } from "../src/inventory.js";
import { systemClock } from "../src/lib/clock.js";
import { createLogger } from "../src/lib/logger.js";
import { startLocalStore } from "../src/local-store.js";

/**
 * `node --import tsx bench/devices.ts`: what signed devices cost a device list. A 50-member group
 * whose members have 6 devices each (300 devices), read the way every device list, send check and
 * stream fan-out reads them, in one run on the same store:
 *  - before: the query the lists ran before account keys (one find on `devices`);
 *  - after, cold: `listDevicesOf` the first time (every signature verified);
 *  - after, warm: `listDevicesOf` again (verdicts cached by the signed bytes);
 * and the signature checks alone, uncached and cached. Medians of BENCH_ROUNDS (default 50) reads; before and after alternate.
 */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 50);
const MEMBERS = 50;
const PER_MEMBER = 6;

const dir = mkdtempSync(join(tmpdir(), "hush-bench-dev-"));
const local = process.env.MONGODB_URI ? undefined : await startLocalStore(dir);
const uri = process.env.MONGODB_URI ?? local!.uri;
const store = await connectStore(uri, `hush_bench_dev_${Date.now().toString(36)}`, createLogger("silent"), {
  inventory,
});
// The store is stopped whatever happens: a local store left running would outlive the bench.
try {
  const deps = { store, clock: systemClock } as unknown as Deps; // the reads need nothing else
  const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");
  const statement = (d: { device_id: string; identity_key: string }) =>
    new TextEncoder().encode(["hush-device-link-v1", d.device_id, "ed25519", d.identity_key].join("\n"));

  const users: ObjectId[] = [];
  const rows: DeviceDoc[] = [];
  const now = new Date();
  for (let u = 0; u < MEMBERS; u++) {
    const userId = new ObjectId();
    users.push(userId);
    const secret = ed25519.utils.randomSecretKey();
    await accountKeys
      .col(store.db)
      .insertOne({ _id: userId, public_key: b64(ed25519.getPublicKey(secret)), created_at: now });
    for (let d = 0; d < PER_MEMBER; d++) {
      const device = {
        device_id: `dev-${d}`,
        identity_key: b64(ed25519.getPublicKey(ed25519.utils.randomSecretKey())),
      };
      rows.push({
        _id: new ObjectId(),
        user_id: userId,
        ...device,
        device_name: "Bench",
        key_type: "ed25519",
        registration_id: null,
        signed_prekey: null,
        kem_last_resort_prekey: null,
        account_signature: b64(ed25519.sign(statement(device), secret)),
        created_at: now,
        last_seen_at: now,
      });
    }
  }
  await devices.col(store.db).insertMany(rows);
  const keyOf = new Map(
    (await accountKeys.col(store.db).find().toArray()).map((k) => [k._id.toHexString(), k.public_key]),
  );

  async function median(label: string, rounds: number, op: () => Promise<unknown> | unknown) {
    const times: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const start = performance.now();
      await op();
      times.push(performance.now() - start);
    }
    times.sort((a, b) => a - b);
    console.log(`${label}: median ${times[Math.floor(times.length / 2)]!.toFixed(2)} ms over ${rounds}`);
  }

  const before = () =>
    devices
      .col(store.db)
      .find({ user_id: { $in: users } })
      .sort({ created_at: 1 })
      .toArray();
  const verifyAll = (check: typeof verifyLink) => {
    for (const d of rows)
      if (!check(keyOf.get(d.user_id.toHexString())!, d, d.account_signature!)) throw new Error("bad");
  };

  console.log(`${MEMBERS} members x ${PER_MEMBER} devices = ${rows.length} devices; node ${process.version}`);
  await median("signatures alone, uncached (node:crypto Ed25519)", 10, () => verifyAll(verifyLinkUncached));
  const cold = performance.now();
  const listed = await listDevicesOf(deps, users);
  console.log(
    `after, cold (first read, every signature verified): ${(performance.now() - cold).toFixed(2)} ms`,
  );
  if (listed.length !== rows.length) throw new Error(`listed ${listed.length} of ${rows.length}`);
  await median("signatures alone, cached", ROUNDS, () => verifyAll(verifyLink));
  await median("the account keys query alone", ROUNDS, () =>
    accountKeys
      .col(store.db)
      .find({ _id: { $in: users } })
      .toArray(),
  );
  // Before and after alternate, round by round, so that both see the same load on a shared machine.
  const times = { before: [] as number[], after: [] as number[] };
  for (let i = 0; i < ROUNDS; i++) {
    for (const [name, op] of [
      ["before", before],
      ["after", () => listDevicesOf(deps, users)],
    ] as const) {
      const start = performance.now();
      await op();
      times[name].push(performance.now() - start);
    }
  }
  const mid = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!.toFixed(2);
  console.log(`before: the device-list query alone: median ${mid(times.before)} ms over ${ROUNDS}`);
  console.log(
    `after, warm: listDevicesOf (query, account keys, cached checks): median ${mid(times.after)} ms over ${ROUNDS}`,
  );
} finally {
  await store.close();
  await local?.stop();
  rmSync(dir, { recursive: true, force: true });
}
