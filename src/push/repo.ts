import { createECDH } from "node:crypto";
import type { Filter, ObjectId } from "mongodb";
import { isDuplicateKey } from "../db/ids.js";
import { lapsedLeases, takeLease } from "../db/lease.js";
import { never, owned } from "../db/owned.js";
import type { Deps } from "../deps.js";

/*
 * A device's Web Push subscription, and the wake-up it is owed. The pending push lives on the
 * subscription itself: recording it is one compare-and-set on the document (atomic on both stores),
 * and `lease_until` says who may send it when (docs/push.md, "Delivery").
 */

export interface PushSubscriptionDoc {
  /** `<user>:<device>`, as the device's stream head: one subscription a device. */
  _id: string;
  user_id: ObjectId;
  device_id: string;
  endpoint: string;
  p256dh: string;
  auth: string;
  created_at: Date;
  /** When the last wake-up was recorded; cleared when the device connects. */
  woken_at?: Date;
  /** Set while a wake-up is owed: the time it may be (re)tried; the process sending it holds it. */
  lease_until?: Date;
  /** The stream position the owed wake-up names. */
  position?: number;
  /** Failed attempts of the owed wake-up so far. */
  attempts?: number;
}

/** The server's VAPID key when VAPID_PRIVATE_KEY is not set: made once, shared by every process. */
export interface VapidKeyDoc {
  _id: "vapid";
  /** The P-256 private scalar, base64url (the format VAPID_PRIVATE_KEY takes). */
  private_key: string;
  created_at: Date;
}

export const pushSubscriptions = owned<PushSubscriptionDoc>({
  name: "push_subscriptions",
  owner: "push",
  holds:
    "a device's Web Push subscription (the push service's endpoint URL and the device's public push keys) " +
    "and the wake-up it is owed, if any (a stream position, the attempts, when to try)",
  indexes: [{ key: { user_id: 1 } }, { key: { lease_until: 1 } }],
  ...never,
  onAccountDeletion: "erased (also when its device is removed, or logs out of its session)",
  eraseAccount: (col, a) => col.deleteMany({ user_id: a._id }),
  eraseDevice: (col, userId, deviceId) => col.deleteOne({ _id: subscriptionKey(userId, deviceId) }),
});

export const vapidKeys = owned<VapidKeyDoc>({
  name: "push_vapid_keys",
  owner: "push",
  holds:
    "the server's own VAPID signing key for Web Push, when VAPID_PRIVATE_KEY is not set (no account's data)",
  indexes: [],
  ...never,
  onAccountDeletion: "kept: it belongs to the server, not to an account",
  eraseAccount: async () => {},
});

const subs = (deps: Deps) => pushSubscriptions.col(deps.store.db);
export const subscriptionKey = (userId: ObjectId, deviceId: string) => `${userId.toHexString()}:${deviceId}`;

export interface Subscription {
  endpoint: string;
  p256dh: string;
  auth: string;
}

/** Stores a device's subscription, replacing any earlier one (and any wake-up owed to it). */
export async function saveSubscription(deps: Deps, userId: ObjectId, deviceId: string, s: Subscription) {
  const _id = subscriptionKey(userId, deviceId);
  const doc = { _id, user_id: userId, device_id: deviceId, ...s, created_at: deps.clock.now() };
  await subs(deps).replaceOne({ _id }, doc, { upsert: true });
}

export async function removeSubscription(deps: Deps, userId: ObjectId, deviceId: string) {
  await subs(deps).deleteOne({ _id: subscriptionKey(userId, deviceId) });
}

/** The subscriptions of these devices (by subscription key): one `_id` lookup, as big as its answer. */
export const subscriptionsOf = (deps: Deps, keys: string[]) =>
  subs(deps)
    .find({ _id: { $in: keys } })
    .toArray();

/**
 * Records a wake-up for a device whose subscription was read as `seen`, unless someone changed it
 * since (another process recorded one, the device connected): one compare-and-set on `woken_at`.
 * The recorder holds it for `leaseMs`, the time it has to send it before anyone else may.
 */
export async function recordWake(deps: Deps, seen: PushSubscriptionDoc, position: number, leaseMs: number) {
  const now = deps.clock.now();
  const lease_until = new Date(now.getTime() + leaseMs);
  const filter: Filter<PushSubscriptionDoc> = {
    _id: seen._id,
    woken_at: seen.woken_at ?? { $exists: false },
  };
  const { matchedCount } = await subs(deps).updateOne(filter, {
    $set: { woken_at: now, lease_until, position, attempts: 0 },
  });
  return matchedCount ? { ...seen, woken_at: now, lease_until, position, attempts: 0 } : null;
}

/** The device connected: it needs no wake-up now, and the next one may come as soon as it leaves. */
export async function deviceConnected(deps: Deps, userId: ObjectId, deviceId: string) {
  await subs(deps).updateOne(
    { _id: subscriptionKey(userId, deviceId), woken_at: { $exists: true } },
    { $unset: { woken_at: "", lease_until: "", position: "", attempts: "" } },
  );
}

/** Wake-ups whose lease has passed (their sender died, or their retry is due), oldest first. */
export const duePushes = (deps: Deps, now: Date, limit: number) => lapsedLeases(subs(deps), now, limit);

/** Takes a due wake-up by a compare-and-set on its lease: of several processes one gets it. */
export const takePush = (deps: Deps, doc: PushSubscriptionDoc, ms: number) =>
  takeLease(subs(deps), doc, ms, deps.clock.now());

/** The filter that still names this attempt: nothing changes if the wake-up was replaced meanwhile. */
const held = (doc: PushSubscriptionDoc) => ({ _id: doc._id, lease_until: doc.lease_until });

/** The wake-up was delivered (or given up): nothing is owed any more. */
export const pushDone = (deps: Deps, doc: PushSubscriptionDoc) =>
  subs(deps).updateOne(held(doc), { $unset: { lease_until: "", position: "", attempts: "" } });

/** The wake-up failed; try again at `retryAt`. */
export const pushRetry = (deps: Deps, doc: PushSubscriptionDoc, retryAt: Date) =>
  subs(deps).updateOne(held(doc), { $set: { lease_until: retryAt }, $inc: { attempts: 1 } });

/** The push service says the subscription is gone (404/410): so is ours. */
export const dropSubscription = (deps: Deps, doc: PushSubscriptionDoc) =>
  subs(deps).deleteOne({ _id: doc._id, endpoint: doc.endpoint });

/**
 * The VAPID private key: VAPID_PRIVATE_KEY, or the one kept in the database, made by whichever
 * process first needed it (a unique `_id` insert: the others read the winner's).
 */
export function vapidPrivateKey(deps: Deps): Promise<string> {
  if (deps.config.VAPID_PRIVATE_KEY) return Promise.resolve(deps.config.VAPID_PRIVATE_KEY);
  // This process's copy (deps.vapid), read or made once; a failure is not kept.
  const cache = deps.vapid;
  if (!cache.key) {
    const key = loadOrMake(deps);
    key.catch(() => {
      if (cache.key === key) cache.key = undefined;
    });
    cache.key = key;
  }
  return cache.key;
}

async function loadOrMake(deps: Deps): Promise<string> {
  const col = vapidKeys.col(deps.store.db);
  const found = await col.findOne({ _id: "vapid" });
  if (found) return found.private_key;
  const ecdh = createECDH("prime256v1");
  ecdh.generateKeys();
  const private_key = ecdh.getPrivateKey().toString("base64url");
  try {
    await col.insertOne({ _id: "vapid", private_key, created_at: deps.clock.now() });
    return private_key;
  } catch (err) {
    if (!isDuplicateKey(err)) throw err;
    return (await col.findOne({ _id: "vapid" }))!.private_key;
  }
}
