import type { z } from "@hono/zod-openapi";
import type { ObjectId } from "mongodb";
import { isDuplicateKey, newId } from "../db/ids.js";
import { never, owned } from "../db/owned.js";
import type { Deps } from "../deps.js";
import { AppError } from "../http/errors.js";
import { decodeBase64 } from "../lib/base64.js";
import { accountKeysOf } from "./account-keys.js";
import { parseIdentityKey } from "./crypto.js";
import { verifyLink } from "./linking.js";
import type { DeviceInfo } from "./schemas.js";

export interface SignedKey {
  key_id: number;
  public_key: string;
  signature: string;
}
export interface DeviceDoc {
  _id: ObjectId;
  user_id: ObjectId;
  device_id: string;
  device_name: string;
  identity_key: string;
  key_type: "ed25519" | "curve25519";
  registration_id: number | null;
  signed_prekey: SignedKey | null;
  kem_last_resort_prekey: SignedKey | null;
  /** The account key's signature over the link statement (src/devices/linking.ts); null: pending. */
  account_signature?: string | null;
  created_at: Date;
  last_seen_at: Date;
}
export const devices = owned<DeviceDoc>({
  name: "devices",
  owner: "devices",
  holds: "a device of an account: its name, public identity key, signed and last-resort prekeys",
  indexes: [
    { key: { user_id: 1, device_id: 1 }, options: { unique: true } },
    { key: { user_id: 1, created_at: 1 } },
  ],
  ...never,
  onAccountDeletion: "erased",
  eraseAccount: (col, a) => col.deleteMany({ user_id: a._id }),
  eraseDevice: (col, userId, deviceId) => col.deleteOne({ user_id: userId, device_id: deviceId }),
});
const col = (deps: Deps) => devices.col(deps.store.db);

/**
 * `linked`: signed by the account key; `pending`: the account has a key that has not signed it
 * yet; `unsigned`: the account has no key (a legacy account: its devices count as before).
 */
export type DeviceStatus = "linked" | "pending" | "unsigned";
export type ListedDevice = DeviceDoc & { status: DeviceStatus; account_key: string | null };

/**
 * A device row whose signature does not verify was not written by Hush (a row put straight into
 * the database): it is treated as absent everywhere (null).
 */
function statusOf(d: DeviceDoc, accountKey: string | null): DeviceStatus | null {
  if (accountKey === null) return "unsigned";
  const signature = d.account_signature ?? null;
  if (signature === null) return "pending";
  return verifyLink(accountKey, d, signature) ? "linked" : null;
}

/** The devices of several users with their status, oldest first: one query, and the owners' account keys. */
async function withStatus(deps: Deps, userIds: ObjectId[]) {
  if (!userIds.length) return { devices: [] as ListedDevice[], keys: new Map<string, string>() };
  const [keys, docs] = await Promise.all([
    accountKeysOf(deps, userIds),
    userIds.length === 1
      ? col(deps).find({ user_id: userIds[0] }).sort({ created_at: 1 }).toArray()
      : col(deps)
          .find({ user_id: { $in: userIds } })
          .sort({ created_at: 1 })
          .toArray(),
  ]);
  const devices = docs.flatMap((d): ListedDevice[] => {
    const accountKey = keys.get(d.user_id.toHexString()) ?? null;
    const status = statusOf(d, accountKey);
    return status ? [{ ...d, status, account_key: accountKey }] : [];
  });
  return { devices, keys };
}

/**
 * The devices others may address, of several users, oldest first: linked ones (and every device of
 * a legacy account), never a pending one. Every device list, key directory, claim, send check and
 * stream fan-out reads devices through here, so a pending device gets no message key and no entry.
 */
export const listDevicesOf = async (deps: Deps, userIds: ObjectId[]) =>
  (await withStatus(deps, userIds)).devices.filter((d) => d.status !== "pending");

export const listDevices = (deps: Deps, userId: ObjectId) => listDevicesOf(deps, [userId]);

/** An account's own view of its devices: pending ones too, so a linked device can approve them. */
export const listAccountDevices = async (deps: Deps, userId: ObjectId) =>
  (await withStatus(deps, [userId])).devices;

/** The same, with the account key (null: a legacy account). */
export async function accountDevices(deps: Deps, userId: ObjectId) {
  const { devices, keys } = await withStatus(deps, [userId]);
  return { devices, accountKey: keys.get(userId.toHexString()) ?? null };
}

/**
 * Links a pending device: only if it still has the identity key that was signed and no signature
 * yet (a concurrent approval or re-key wins). True when this call linked it.
 */
export async function linkDevice(deps: Deps, device: DeviceDoc, signature: string) {
  const { matchedCount } = await col(deps).updateOne(
    {
      user_id: device.user_id,
      device_id: device.device_id,
      identity_key: device.identity_key,
      account_signature: null,
    },
    { $set: { account_signature: signature } },
  );
  return matchedCount === 1;
}

/** An account-key reset: every device of the account goes back to pending. */
export const unlinkAll = (deps: Deps, userId: ObjectId) =>
  col(deps).updateMany({ user_id: userId }, { $set: { account_signature: null } });

export const findDevice = (deps: Deps, userId: ObjectId, deviceId: string) =>
  col(deps).findOne({ user_id: userId, device_id: deviceId });

export const touchDevice = (deps: Deps, userId: ObjectId, deviceId: string) =>
  col(deps).updateOne({ user_id: userId, device_id: deviceId }, { $set: { last_seen_at: deps.clock.now() } });

/** Sets prekey fields on a device, only if it still has the identity key that signed them. */
export async function setDeviceKeys(deps: Deps, device: DeviceDoc, set: Partial<DeviceDoc>) {
  const { matchedCount } = await col(deps).updateOne(
    { _id: device._id, identity_key: device.identity_key },
    { $set: set },
  );
  return matchedCount === 1;
}

/**
 * Registers the device a login or sign-up comes from, or refreshes it when the account knows it. A
 * new identity key on a known device id is a reinstall: its old prekeys go with the old key.
 * The cap is checked after the insert and the insert undone when over it, so concurrent logins
 * cannot push an account past MAX_DEVICES (FerretDB has no transactions to do it the other way).
 */
export async function registerDevice(
  deps: Deps,
  userId: ObjectId,
  info: z.infer<typeof DeviceInfo>,
  onRekey: (keyType: DeviceDoc["key_type"]) => Promise<unknown>,
  /** The account key's signature of this device (sign-up), or null: a new or re-keyed device is pending. */
  signature: string | null = null,
) {
  const devices = col(deps);
  const now = deps.clock.now();
  const keyType = parseIdentityKey(decodeBase64(info.public_key)!);
  if (!keyType.ok)
    throw new AppError("INVALID_KEY", keyType.reason, { "device_info.public_key": keyType.reason });
  const existing = await devices.findOne({ user_id: userId, device_id: info.device_id });
  if (existing) {
    const rekeyed = existing.identity_key !== info.public_key;
    await devices.updateOne(
      { _id: existing._id },
      {
        $set: {
          device_name: info.device_name,
          last_seen_at: now,
          ...(rekeyed
            ? {
                identity_key: info.public_key,
                key_type: keyType.key.keyType,
                signed_prekey: null,
                kem_last_resort_prekey: null,
                registration_id: null,
                account_signature: signature,
              }
            : {}),
        },
      },
    );
    if (rekeyed) await onRekey(keyType.key.keyType);
    return;
  }
  const _id = newId();
  try {
    await devices.insertOne({
      _id,
      user_id: userId,
      device_id: info.device_id,
      device_name: info.device_name,
      identity_key: info.public_key,
      key_type: keyType.key.keyType,
      registration_id: null,
      signed_prekey: null,
      kem_last_resort_prekey: null,
      account_signature: signature,
      created_at: now,
      last_seen_at: now,
    });
  } catch (err) {
    if (isDuplicateKey(err)) return registerDevice(deps, userId, info, onRekey, signature); // the same device raced itself
    throw err;
  }
  const count = await devices.countDocuments({ user_id: userId });
  if (count > deps.config.MAX_DEVICES) {
    await devices.deleteOne({ _id });
    throw new AppError(
      "DEVICE_LIMIT_REACHED",
      `This account already has ${deps.config.MAX_DEVICES} devices; remove one first`,
    );
  }
}
