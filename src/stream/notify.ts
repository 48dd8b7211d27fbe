import type { ObjectId } from "mongodb";
import { pairState } from "../contacts/repo.js";
import type { Deps } from "../deps.js";
import { listAccountDevices, listDevicesOf } from "../devices/repo.js";
import { append, type EntryInput } from "./append.js";
import type { EntryData } from "./schemas.js";

/*
 * The producers that exist before messages do: each turns a change into entries for every device
 * that must learn of it, through `append`, the one way into a stream.
 */

/**
 * A contact entry between `a` and `b` changed: each side's devices get the entry as that side now
 * sees it (or `removed`). `only` limits it to one side (a display name is private to its author).
 */
export async function contactsChanged(deps: Deps, a: ObjectId, b: ObjectId, only?: ObjectId) {
  const { ab, ba } = await pairState(deps, a, b);
  const view = (doc: typeof ab, other: ObjectId): EntryData<"contacts_updated"> =>
    doc
      ? { user_id: other.toHexString(), status: doc.status, display_name: doc.display_name }
      : { user_id: other.toHexString(), status: "removed", display_name: null };
  const sides = [
    { user: a, data: view(ab, b) },
    { user: b, data: view(ba, a) },
  ].filter((s) => !only || s.user.equals(only));
  const devices = await listDevicesOf(
    deps,
    sides.map((s) => s.user),
  );
  const entries: EntryInput[] = devices.map((d) => {
    const data = sides.find((s) => s.user.equals(d.user_id))!.data;
    return {
      user_id: d.user_id,
      device_id: d.device_id,
      type: "contacts_updated",
      data,
      refs: [data.user_id],
    };
  });
  await append(deps, entries);
}

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
  const devices = await listDevicesOf(deps, [userId, ...audience.filter((u) => !u.equals(userId))]);
  const data: EntryData<"identity_changed"> = { user_id: userId.toHexString(), ...device };
  const refs = [data.user_id, `${data.user_id}:${device.device_id}`];
  await append(
    deps,
    devices
      .filter((d) => !(d.user_id.equals(userId) && d.device_id === device.device_id))
      .map((d) => ({ user_id: d.user_id, device_id: d.device_id, type: "identity_changed", data, refs })),
  );
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
  const refs = [data.user_id, `${data.user_id}:${data.device.device_id}`];
  await append(
    deps,
    [...own, ...others].map((d) => ({
      user_id: d.user_id,
      device_id: d.device_id,
      type: "devices_changed",
      data,
      refs,
    })),
  );
}

/**
 * A device's one-time prekeys ran low, or its daily claim budget is spent: the device itself is
 * told, with its stock, so it can top up (or learn that someone is claiming its keys).
 */
export async function prekeysLow(
  deps: Deps,
  userId: ObjectId,
  deviceId: string,
  data: EntryData<"prekeys_low">,
) {
  // Only the device's own stream holds it, and that goes with the device: nothing else to name.
  await append(deps, [{ user_id: userId, device_id: deviceId, type: "prekeys_low", data, refs: [] }]);
}
