import type { z } from "@hono/zod-openapi";
import { ObjectId } from "mongodb";
import type { Deps } from "../deps.js";
import { type DeviceDoc, listDevicesOf } from "../devices/repo.js";
import { AppError, type DeviceRef } from "../http/errors.js";
import type { Auth } from "../http/openapi.js";
import type { WrappedKey } from "./keys.js";
import type { RecipientKey } from "./schemas.js";

const ref = (userId: ObjectId | string, deviceId: string): DeviceRef => ({
  user_id: typeof userId === "string" ? userId : userId.toHexString(),
  device_id: deviceId,
});
const id = (r: DeviceRef) => `${r.user_id}:${r.device_id}`;

/**
 * The devices of the users a send's keys name, and of the sender, read before the members are
 * known (alongside them): when every member is among those users, as in any send but one whose
 * list is out of date, the members' devices are in it and need no read of their own.
 */
export interface DeviceGuess {
  users: Set<string>;
  devices: Promise<DeviceDoc[]>;
}
export function guessDevices(
  deps: Deps,
  sender: ObjectId,
  keys: z.infer<typeof RecipientKey>[],
): DeviceGuess {
  const users = new Set([sender.toHexString(), ...keys.map((k) => k.user_id.toLowerCase())]);
  const devices = listDevicesOf(
    deps,
    [...users].map((u) => new ObjectId(u)),
  );
  devices.catch(() => {}); // awaited only if used
  return { users, devices };
}

/** The members' current devices, oldest first: from the guess when it covers them all, else read. */
async function devicesOfMembers(deps: Deps, members: ObjectId[], guess?: DeviceGuess) {
  const ids = new Set(members.map((m) => m.toHexString()));
  if (!guess || [...ids].some((m) => !guess.users.has(m))) return listDevicesOf(deps, members);
  // The same query on more users, less the ones that are not members: the same list.
  return (await guess.devices).filter((d) => ids.has(d.user_id.toHexString()));
}

/**
 * The device-list check, as Signal's server does it: the keys must name exactly every current
 * device of every other member, and every other device of the sender (the sending device may
 * name itself, since it may want to read its own message from history later). Anything else is a
 * 409 DEVICE_MISMATCH listing what is missing and what is extra, so the client fetches keys and
 * retries. Only linked devices count (and those of legacy accounts): a pending device named is
 * extra, and one left out is not missing. A key naming a registration_id the device no longer has (it re-registered since the
 * sender fetched its bundle) is a 410 STALE_DEVICES: a message nobody could open is not stored.
 */
export async function checkRecipients(
  deps: Deps,
  sender: Auth,
  members: ObjectId[],
  keys: z.infer<typeof RecipientKey>[],
  guess?: DeviceGuess,
): Promise<WrappedKey[]> {
  const devices = await devicesOfMembers(deps, members, guess);
  const ownDevice = devices.find((d) => d.user_id.equals(sender.userId) && d.device_id === sender.deviceId);
  // Only linked devices are listed (src/devices/repo.ts): a pending one may not send either.
  if (!ownDevice)
    throw new AppError("FORBIDDEN", "This device is pending: a linked device must approve it first");
  const expected = new Map(
    devices
      .filter((d) => !(d.user_id.equals(sender.userId) && d.device_id === sender.deviceId))
      .map((d) => [id(ref(d.user_id, d.device_id)), d]),
  );
  const given = keys.map((k) => ({ ...k, user_id: new ObjectId(k.user_id) }));
  const givenIds = new Set(given.map((k) => id(ref(k.user_id, k.device_id))));
  const self = id(ref(sender.userId, sender.deviceId));

  const missing = [...expected.keys()].filter((k) => !givenIds.has(k));
  const extra = [...givenIds].filter((k) => !expected.has(k) && k !== self);
  if (missing.length || extra.length) {
    const split = (k: string) => ref(k.slice(0, 24), k.slice(25));
    throw new AppError(
      "DEVICE_MISMATCH",
      `recipient_keys must name every current device: ${missing.length} missing, ${extra.length} extra`,
      undefined,
      undefined,
      { missing_devices: missing.map(split), extra_devices: extra.map(split) },
    );
  }

  const stale = given.filter((k) => {
    if (k.registration_id === undefined) return false;
    const device = expected.get(id(ref(k.user_id, k.device_id))) ?? ownDevice;
    return device?.registration_id !== k.registration_id;
  });
  if (stale.length) {
    throw new AppError(
      "STALE_DEVICES",
      `${stale.length} device(s) re-registered since their keys were fetched; fetch them again`,
      undefined,
      undefined,
      { stale_devices: stale.map((k) => ref(k.user_id, k.device_id)) },
    );
  }
  return given.map((k) => ({
    user_id: k.user_id,
    device_id: k.device_id,
    encrypted_key: k.encrypted_key,
    registration_id: k.registration_id ?? null,
  }));
}
