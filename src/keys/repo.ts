import type { z } from "@hono/zod-openapi";
import type { ObjectId } from "mongodb";
import { isDuplicateKey, newId } from "../db/ids.js";
import { never, owned } from "../db/owned.js";
import type { Deps } from "../deps.js";
import { parseIdentityKey, verifySignature } from "../devices/crypto.js";
import { type DeviceDoc, findDevice, setDeviceKeys } from "../devices/repo.js";
import { AppError } from "../http/errors.js";
import { decodeBase64 } from "../lib/base64.js";
import { PREKEY_STOCK, type UploadKeys } from "./routes.js";

export interface PrekeyDoc {
  _id: ObjectId;
  user_id: ObjectId;
  device_id: string;
  kind: "ec" | "kem";
  key_id: number;
  public_key: string;
  signature: string | null;
  created_at: Date;
}
export const prekeys = owned<PrekeyDoc>({
  name: "prekeys",
  owner: "keys",
  holds: "one unclaimed one-time prekey (EC or KEM, public half) of a device; a claim deletes it",
  indexes: [{ key: { user_id: 1, device_id: 1, kind: 1, key_id: 1 }, options: { unique: true } }],
  ...never,
  onAccountDeletion: "erased",
  eraseAccount: (col, a) => col.deleteMany({ user_id: a._id }),
  eraseDevice: (col, userId, deviceId) => col.deleteMany({ user_id: userId, device_id: deviceId }),
});
const col = (deps: Deps) => prekeys.col(deps.store.db);

/** A re-keyed device's one-time prekeys were signed by its old identity key: they go with it. */
export const dropPrekeys = (deps: Deps, userId: ObjectId, deviceId: string) =>
  col(deps).deleteMany({ user_id: userId, device_id: deviceId });

type Upload = z.infer<typeof UploadKeys>;
type Kind = PrekeyDoc["kind"];
const fieldOf: Record<Kind, string> = { ec: "one_time_prekeys", kem: "kem_prekeys" };

export async function countPrekeys(deps: Deps, userId: ObjectId, deviceId: string) {
  const count = (kind: Kind) => col(deps).countDocuments({ user_id: userId, device_id: deviceId, kind });
  const [ec, kem] = await Promise.all([count("ec"), count("kem")]);
  return { one_time_prekeys: ec, kem_prekeys: kem };
}

/** Refuses the whole upload, naming every entry whose signature fails, before anything is written. */
function verifyUpload(device: DeviceDoc, body: Upload) {
  const parsed = parseIdentityKey(decodeBase64(device.identity_key)!);
  if (!parsed.ok) throw new Error(`stored identity key of device ${device._id} is invalid`);
  const signed: [string, { public_key: string; signature: string } | undefined][] = [
    ["signed_prekey", body.signed_prekey],
    ...(body.kem_prekeys ?? []).map((k, i) => [`kem_prekeys.${i}`, k] as [string, typeof k]),
    ["kem_last_resort_prekey", body.kem_last_resort_prekey],
  ];
  const fields: Record<string, string> = {};
  for (const [name, key] of signed) {
    if (key && !verifySignature(parsed.key, decodeBase64(key.public_key)!, decodeBase64(key.signature)!)) {
      fields[`${name}.signature`] = "does not verify against the device identity key";
    }
  }
  if (Object.keys(fields).length) throw new AppError("INVALID_SIGNATURE", undefined, fields);
}

/**
 * Stores an upload for the calling device. Without transactions, one-time keys are inserted first
 * (the unique index refuses a key_id twice), the stock is counted after the insert and the insert
 * undone when over it, and the device update is conditional on the identity key that signed the
 * upload: if the device was removed or re-keyed meanwhile, the inserted keys are taken back out.
 */
export async function storeKeys(deps: Deps, userId: ObjectId, deviceId: string, body: Upload) {
  const prekeys = col(deps);
  const device = await findDevice(deps, userId, deviceId);
  if (!device) throw new AppError("UNAUTHORIZED", "This device no longer exists");
  verifyUpload(device, body);
  const now = deps.clock.now();
  const docs: PrekeyDoc[] = [
    ...(body.one_time_prekeys ?? []).map((k) => ({ ...k, kind: "ec" as const, signature: null })),
    ...(body.kem_prekeys ?? []).map((k) => ({ ...k, kind: "kem" as const })),
  ].map((k) => ({ _id: newId(), user_id: userId, device_id: deviceId, created_at: now, ...k }));
  const kinds = [...new Set(docs.map((d) => d.kind))];
  await assertRoom(deps, userId, deviceId, docs, kinds);

  const undo = () => prekeys.deleteMany({ _id: { $in: docs.map((d) => d._id) } });
  if (docs.length) {
    try {
      await prekeys.insertMany(docs, { ordered: true });
    } catch (err) {
      await undo();
      if (isDuplicateKey(err)) throw new AppError("CONFLICT", "A key_id in this upload is already stored");
      throw err;
    }
    const counts = await countPrekeys(deps, userId, deviceId);
    const over = kinds.filter((k) => counts[fieldOf[k] as keyof typeof counts] > PREKEY_STOCK);
    if (over.length) {
      await undo();
      throw stockError(over);
    }
  }
  const set: Partial<DeviceDoc> = { last_seen_at: now };
  if (body.registration_id !== undefined) set.registration_id = body.registration_id;
  if (body.signed_prekey) set.signed_prekey = body.signed_prekey;
  if (body.kem_last_resort_prekey) set.kem_last_resort_prekey = body.kem_last_resort_prekey;
  if (!(await setDeviceKeys(deps, device, set))) {
    await undo();
    throw new AppError("INVALID_STATE", "The device was removed or re-keyed during the upload");
  }
  return countPrekeys(deps, userId, deviceId);
}

const stockError = (kinds: Kind[]) =>
  new AppError(
    "PREKEY_LIMIT_REACHED",
    `A device holds at most ${PREKEY_STOCK} unclaimed one-time prekeys of each kind`,
    Object.fromEntries(kinds.map((k) => [fieldOf[k], `would exceed ${PREKEY_STOCK} stored keys`])),
  );

/** Fails fast, naming the entries, when an upload clashes with stored key ids or overflows the stock. */
async function assertRoom(deps: Deps, userId: ObjectId, deviceId: string, docs: PrekeyDoc[], kinds: Kind[]) {
  const fields: Record<string, string> = {};
  const full: Kind[] = [];
  for (const kind of kinds) {
    const mine = docs.filter((d) => d.kind === kind);
    const filter = { user_id: userId, device_id: deviceId, kind };
    const [stored, clashes] = await Promise.all([
      col(deps).countDocuments(filter),
      col(deps)
        .find({ ...filter, key_id: { $in: mine.map((d) => d.key_id) } }, { projection: { key_id: 1 } })
        .toArray(),
    ]);
    if (stored + mine.length > PREKEY_STOCK) full.push(kind);
    const taken = new Set(clashes.map((c) => c.key_id));
    mine.forEach((d, i) => {
      if (taken.has(d.key_id)) fields[`${fieldOf[kind]}.${i}.key_id`] = "already stored for this device";
    });
  }
  if (Object.keys(fields).length) throw new AppError("CONFLICT", "key_id already stored", fields);
  if (full.length) throw stockError(full);
}

/** Takes the lowest-numbered one-time key of a kind: findOneAndDelete hands each key to one caller. */
const takeOne = (deps: Deps, device: DeviceDoc, kind: Kind): Promise<PrekeyDoc | null> =>
  col(deps).findOneAndDelete(
    { user_id: device.user_id, device_id: device.device_id, kind },
    { sort: { key_id: 1 } },
  );

/**
 * A device's bundle. `oneTime` false hands out the signed prekey and the last-resort KEM key but no
 * one-time keys: what a claim gets once the device's claim budget is spent (a session can still
 * start, and the device's stock is not drained).
 */
export async function claimBundle(deps: Deps, device: DeviceDoc, oneTime = true) {
  const spk = device.signed_prekey;
  const [ec, kem] =
    spk && oneTime ? await Promise.all([takeOne(deps, device, "ec"), takeOne(deps, device, "kem")]) : [];
  const lastResort = spk ? device.kem_last_resort_prekey : null;
  return {
    device_id: device.device_id,
    key_type: device.key_type,
    registration_id: device.registration_id,
    identity_key: device.identity_key,
    signed_prekey: spk && pick(spk),
    one_time_prekey: ec ? { key_id: ec.key_id, public_key: ec.public_key } : null,
    kem_prekey: kem
      ? { key_id: kem.key_id, public_key: kem.public_key, signature: kem.signature!, last_resort: false }
      : lastResort && { ...pick(lastResort), last_resort: true },
  };
}

export type ClaimedBundle = Awaited<ReturnType<typeof claimBundle>>;

const pick = (k: { key_id: number; public_key: string; signature: string }) => ({
  key_id: k.key_id,
  public_key: k.public_key,
  signature: k.signature,
});
