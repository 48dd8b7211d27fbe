import type { z } from "@hono/zod-openapi";
import { ObjectId } from "mongodb";
import { revokeWhere } from "../auth/sessions.js";
import { isDuplicateKey } from "../db/ids.js";
import type { Deps } from "../deps.js";
import { decodeBase64, parseIdentityKey } from "../keys/crypto.js";
import { AppError } from "../shared/errors.js";
import type { DeviceInfo } from "../users/schemas.js";

export const listDevices = (deps: Deps, userId: ObjectId) =>
  deps.store.col.devices.find({ user_id: userId }).sort({ created_at: 1 }).toArray();

/**
 * Registers the device a login or sign-up comes from, or refreshes it when the account knows it. A
 * new identity key on a known device id is a reinstall: its old prekeys go with the old key.
 * The cap is checked after the insert and the insert undone when over it, so concurrent logins
 * cannot push an account past MAX_DEVICES (FerretDB has no transactions to do it the other way).
 */
export async function registerDevice(deps: Deps, userId: ObjectId, info: z.infer<typeof DeviceInfo>) {
  const { devices } = deps.store.col;
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
    if (rekeyed) await deps.store.col.prekeys.deleteMany({ user_id: userId, device_id: info.device_id });
    return;
  }
  const _id = new ObjectId();
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
    if (isDuplicateKey(err)) return registerDevice(deps, userId, info); // the same device raced itself
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

/** Removes a device with everything tied to it: sessions, keys. */
export async function removeDevice(deps: Deps, userId: ObjectId, deviceId: string): Promise<boolean> {
  const { deletedCount } = await deps.store.col.devices.deleteOne({ user_id: userId, device_id: deviceId });
  await revokeWhere(deps, { user_id: userId, device_id: deviceId });
  await deps.store.col.prekeys.deleteMany({ user_id: userId, device_id: deviceId });
  return deletedCount === 1;
}
