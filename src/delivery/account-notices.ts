import type { ObjectId } from "mongodb";
import type { Deps } from "../deps.js";
import { listAccountDevices, listDevicesOf } from "../devices/repo.js";
import { devicesOf, recordChange } from "./deliver.js";
import type { EntryData } from "./schemas.js";

/*
 * The changes about an account rather than a message: each names every device that must learn of
 * it and goes through the door (deliver.ts) like any other change. A contact entry's change is
 * made by its owner (src/contacts/notices.ts), which knows how each side sees it.
 */

/**
 * A device of `userId` now has a different identity key: the devices of `audience` (whoever
 * encrypts to the user: contacts, co-members) and the user's own other devices get
 * `identity_changed`, the safety-number change their clients show.
 */
export async function identityChanged(
  deps: Deps,
  userId: ObjectId,
  device: { device_id: string; identity_key: string; key_type: "ed25519" | "curve25519" },
  audience: ObjectId[],
) {
  const targets = await devicesOf(deps, [userId, ...audience.filter((u) => !u.equals(userId))], {
    userId,
    deviceId: device.device_id,
  });
  const data: EntryData<"identity_changed"> = { user_id: userId.toHexString(), ...device };
  await recordChange(deps, { type: "identity_changed", data, targets });
}

/**
 * An account's device list changed (a device linked, or the account key reset): the account's own
 * devices, pending ones included (a reset unlinks them, and they must learn it), and the linked
 * devices of `audience` (contacts, co-members) get `devices_changed`.
 */
export async function devicesChanged(
  deps: Deps,
  userId: ObjectId,
  data: EntryData<"devices_changed">,
  audience: ObjectId[],
) {
  const [own, others] = await Promise.all([
    listAccountDevices(deps, userId),
    listDevicesOf(
      deps,
      audience.filter((u) => !u.equals(userId)),
    ),
  ]);
  const targets = [...own, ...others].map((d) => ({ user_id: d.user_id, device_id: d.device_id }));
  await recordChange(deps, { type: "devices_changed", data, targets });
}

/**
 * A device's one-time prekeys ran low, or its daily claim budget is spent: the device itself is
 * told, with its stock, so it can top up (or learn that someone is claiming its keys).
 */
export const prekeysLow = (deps: Deps, userId: ObjectId, deviceId: string, data: EntryData<"prekeys_low">) =>
  recordChange(deps, { type: "prekeys_low", data, targets: [{ user_id: userId, device_id: deviceId }] });
