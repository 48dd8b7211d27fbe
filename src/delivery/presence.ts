import type { Collection, ObjectId } from "mongodb";
import { owned } from "../db/owned.js";
import type { Deps } from "../deps.js";
import { touchDevice } from "../devices/repo.js";
import { addSeconds } from "../lib/clock.js";
import { publishClose } from "./bus.js";
import type { CloseName } from "./close.js";

/*
 * Who is online, across every server process: one document per live socket, refreshed by its
 * process's heartbeat. A process that dies stops refreshing, and its sockets stop counting once
 * their expiry passes.
 */

export interface PresenceDoc {
  _id: ObjectId;
  user_id: ObjectId;
  device_id: string;
  expires_at: Date;
}

export const presence = owned<PresenceDoc>({
  name: "presence",
  owner: "delivery",
  holds: "one open WebSocket of a device, until when it counts as online without a heartbeat",
  indexes: [{ key: { user_id: 1, expires_at: 1, _id: 1 } }, { key: { user_id: 1, device_id: 1 } }],
  expires: true,
  onExpiry: "erased: a socket whose process stopped refreshing it no longer counts as online",
  onAccountDeletion:
    "erased, and the account's sockets are closed on every process (close code 4003; 4002 for a removed device)",
  eraseAccount: (col, a) => closeSockets(col, { user_id: a._id }, "ACCOUNT_DELETED"),
  eraseDevice: (col, userId, deviceId) =>
    closeSockets(col, { user_id: userId, device_id: deviceId }, "DEVICE_REMOVED"),
});
const col = (deps: Deps) => presence.col(deps.store.db);

/** Erases these sockets' presence and closes them wherever they are (their sessions are gone already). */
async function closeSockets(
  c: Collection<PresenceDoc>,
  filter: { user_id: ObjectId; device_id?: string },
  reason: CloseName,
) {
  const ids = (await c.find(filter, { projection: { _id: 1 } }).toArray()).map((d) => d._id.toHexString());
  await c.deleteMany(filter);
  if (ids.length) await publishClose(c.db, { kind: "close", sockets: ids, reason });
}

/** How long a socket counts as online after its last heartbeat: three missed beats. */
const ttlSeconds = (deps: Deps) => Math.ceil((3 * deps.config.WS_HEARTBEAT_MS) / 1000);

export interface Present {
  id: ObjectId;
  userId: ObjectId;
  deviceId: string;
}

/**
 * Records a new socket; true when it is the user's oldest live one, i.e. the user just came online.
 * Comparing with older sockets (not counting them all) means of two racing connections exactly
 * the older one announces, wherever each runs.
 */
export async function socketOpened(deps: Deps, s: Present): Promise<boolean> {
  const now = deps.clock.now();
  await col(deps).insertOne({
    _id: s.id,
    user_id: s.userId,
    device_id: s.deviceId,
    expires_at: addSeconds(now, ttlSeconds(deps)),
  });
  const older = await col(deps).countDocuments(
    { user_id: s.userId, expires_at: { $gt: now }, _id: { $lt: s.id } },
    { limit: 1 },
  );
  return older === 0;
}

/** Forgets a socket; true when the user has no live socket left anywhere. */
export async function socketClosed(deps: Deps, s: Present): Promise<boolean> {
  await col(deps).deleteOne({ _id: s.id });
  await touchDevice(deps, s.userId, s.deviceId);
  return !(await isOnline(deps, s.userId));
}

/**
 * Sockets refreshed by one update. Small, because on the local store a write holds the database's
 * write gate until it is done, and a heartbeat's refresh must not keep sends waiting: one update of
 * 1,000 sockets held it 130-170 ms, every heartbeat (docs/performance.md, Realtime).
 */
const REFRESH_CHUNK = 100;

/** A heartbeat: these sockets are still open. */
export async function refreshSockets(deps: Deps, ids: ObjectId[]) {
  const expires_at = addSeconds(deps.clock.now(), ttlSeconds(deps));
  for (let i = 0; i < ids.length; i += REFRESH_CHUNK) {
    const chunk = ids.slice(i, i + REFRESH_CHUNK);
    await col(deps).updateMany({ _id: { $in: chunk } }, { $set: { expires_at } });
  }
}

export async function isOnline(deps: Deps, userId: ObjectId): Promise<boolean> {
  const live = { user_id: userId, expires_at: { $gt: deps.clock.now() } };
  return (await col(deps).countDocuments(live, { limit: 1 })) > 0;
}

/** Which of `ids` are online, as hex ids; one query on (user_id, expires_at). */
export async function onlineAmong(deps: Deps, ids: ObjectId[]): Promise<Set<string>> {
  const devices = await devicesOnline(deps, ids);
  return new Set([...devices].map((key) => key.slice(0, key.indexOf(":"))));
}

/** Which devices of these users have a live socket on any process, as `<user>:<device>` keys. */
export async function devicesOnline(deps: Deps, userIds: ObjectId[]): Promise<Set<string>> {
  if (!userIds.length) return new Set();
  const live = await col(deps)
    .find(
      { user_id: { $in: userIds }, expires_at: { $gt: deps.clock.now() } },
      { projection: { user_id: 1, device_id: 1 } },
    )
    .toArray();
  return new Set(live.map((p) => `${p.user_id.toHexString()}:${p.device_id}`));
}
