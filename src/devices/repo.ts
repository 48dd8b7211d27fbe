import type { z } from "@hono/zod-openapi";
import type { ObjectId } from "mongodb";
import { isDuplicateKey, newId } from "../db/ids.js";
import { never, owned } from "../db/owned.js";
import type { Deps } from "../deps.js";
import { decodeBase64 } from "../shared/base64.js";
import { AppError } from "../shared/errors.js";
import { parseIdentityKey } from "./crypto.js";
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

export const listDevices = (deps: Deps, userId: ObjectId) =>
  col(deps).find({ user_id: userId }).sort({ created_at: 1 }).toArray();

/** The devices of several users, oldest first; one query (a send checks a whole group's). */
export const listDevicesOf = (deps: Deps, userIds: ObjectId[]) =>
  userIds.length
    ? col(deps)
        .find({ user_id: { $in: userIds } })
        .sort({ created_at: 1 })
        .toArray()
    : Promise.resolve([]);

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
      created_at: now,
      last_seen_at: now,
    });
  } catch (err) {
    if (isDuplicateKey(err)) return registerDevice(deps, userId, info, onRekey); // the same device raced itself
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
