import type { z } from "@hono/zod-openapi";
import { ObjectId } from "mongodb";
import { hasBlocked } from "../blocks/repo.js";
import type { DeviceDoc, PrekeyDoc } from "../db/collections.js";
import { isDuplicateKey } from "../db/ids.js";
import type { Deps } from "../deps.js";
import { AppError } from "../shared/errors.js";
import { decodeBase64, parseIdentityKey, verifySignature } from "./crypto.js";
import { PREKEY_STOCK, type UploadKeys } from "./routes.js";

type Upload = z.infer<typeof UploadKeys>;
type Kind = PrekeyDoc["kind"];
const fieldOf: Record<Kind, string> = { ec: "one_time_prekeys", kem: "kem_prekeys" };

export async function countPrekeys(deps: Deps, userId: ObjectId, deviceId: string) {
  const count = (kind: Kind) =>
    deps.store.col.prekeys.countDocuments({ user_id: userId, device_id: deviceId, kind });
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
  const { devices, prekeys } = deps.store.col;
  const device = await devices.findOne({ user_id: userId, device_id: deviceId });
  if (!device) throw new AppError("UNAUTHORIZED", "This device no longer exists");
  verifyUpload(device, body);
  const now = deps.clock.now();
  const docs: PrekeyDoc[] = [
    ...(body.one_time_prekeys ?? []).map((k) => ({ ...k, kind: "ec" as const, signature: null })),
    ...(body.kem_prekeys ?? []).map((k) => ({ ...k, kind: "kem" as const })),
  ].map((k) => ({ _id: new ObjectId(), user_id: userId, device_id: deviceId, created_at: now, ...k }));
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
  const { matchedCount } = await devices.updateOne(
    { _id: device._id, identity_key: device.identity_key },
    { $set: set },
  );
  if (matchedCount !== 1) {
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
      deps.store.col.prekeys.countDocuments(filter),
      deps.store.col.prekeys
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

/** The target user as the caller may see it: absent if unknown or if they have blocked the caller. */
export async function assertVisible(deps: Deps, target: ObjectId, caller: ObjectId) {
  const user = await deps.store.col.users.findOne({ _id: target }, { projection: { _id: 1 } });
  if (!user || (await hasBlocked(deps, target, caller))) throw new AppError("USER_NOT_FOUND");
}

const CANDIDATES = 32;
const TRIES = 4;
/**
 * Takes one one-time key. deleteOne's deletedCount is exact on both stores, so the delete is the
 * claim. Concurrent claimers try a few random candidates each and then look again, rather than
 * all racing for the same stale list.
 */
async function takeOne(deps: Deps, device: DeviceDoc, kind: Kind): Promise<PrekeyDoc | null> {
  const { prekeys } = deps.store.col;
  for (;;) {
    const candidates = await prekeys
      .find({ user_id: device.user_id, device_id: device.device_id, kind })
      .sort({ key_id: 1 })
      .limit(CANDIDATES)
      .toArray();
    if (!candidates.length) return null;
    for (let tries = 0; tries < TRIES && candidates.length; tries++) {
      const [c] = candidates.splice(Math.floor(Math.random() * candidates.length), 1);
      if ((await prekeys.deleteOne({ _id: c!._id })).deletedCount === 1) return c!;
    }
  }
}

export async function claimBundle(deps: Deps, device: DeviceDoc) {
  const spk = device.signed_prekey;
  const [ec, kem] = spk ? await Promise.all([takeOne(deps, device, "ec"), takeOne(deps, device, "kem")]) : [];
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

const pick = (k: { key_id: number; public_key: string; signature: string }) => ({
  key_id: k.key_id,
  public_key: k.public_key,
  signature: k.signature,
});
