import type { ObjectId } from "mongodb";
import { isDuplicateKey } from "../db/ids.js";
import { never, owned } from "../db/owned.js";
import type { Deps } from "../deps.js";
import { AppError } from "../http/errors.js";

/**
 * An account's Ed25519 account key (public half): what signs the account's devices. Kept beside
 * the devices it vouches for, since every device list is checked against it.
 */
export interface AccountKeyDoc {
  /** The user's id: one key an account. */
  _id: ObjectId;
  public_key: string;
  created_at: Date;
}
export const accountKeys = owned<AccountKeyDoc>({
  name: "account_keys",
  owner: "devices",
  holds: "an account's Ed25519 account key (public half), which signs the account's devices",
  // Two accounts may not share a key: a device signed for one would be linked to both.
  indexes: [{ key: { public_key: 1 }, options: { unique: true } }],
  ...never,
  onAccountDeletion: "erased",
  eraseAccount: (col, a) => col.deleteOne({ _id: a._id }),
});

/**
 * A requested account-key reset (by a device that logged in by emailed code), waiting out its
 * period before `completeReset` may apply it. One an account; a new request replaces it.
 */
export interface KeyResetDoc {
  _id: ObjectId;
  public_key: string;
  /** The requesting device, and the new key's signature linking it once the reset applies. */
  device_id: string;
  account_signature: string;
  requested_at: Date;
  effective_at: Date;
}
export const keyResets = owned<KeyResetDoc>({
  name: "account_key_resets",
  owner: "devices",
  holds: "a requested account-key reset waiting out its period: the new public key and the requesting device",
  indexes: [],
  ...never,
  onAccountDeletion: "erased",
  eraseAccount: (col, a) => col.deleteOne({ _id: a._id }),
  // The reset was the requesting device's: it goes with it.
  eraseDevice: (col, userId, deviceId) => col.deleteOne({ _id: userId, device_id: deviceId }),
});

const keys = (deps: Deps) => accountKeys.col(deps.store.db);
const resets = (deps: Deps) => keyResets.col(deps.store.db);

/**
 * Keys read in the last KNOWN_SECONDS (and "no key": a legacy account), so that a device list,
 * read on every send and fan-out, costs one query, not two. What staleness can do, for at most
 * KNOWN_SECONDS after another process changed a key: a stale key only makes this process refuse
 * the device a reset just linked under the new one (never trust one it should not); a stale "no
 * key" after a legacy account set its first key keeps treating its devices as a legacy account's,
 * as they were a moment before. This process forgets a key it changes at once. Bounded; the
 * oldest leave first.
 */
const KNOWN_SECONDS = 30;
const KNOWN_MAX = 100_000;
const known = new Map<string, { key: string | null; until: number }>();

/** The account keys of several users, by hex id; users without one are absent. At most one `_id` query. */
export async function accountKeysOf(deps: Deps, userIds: ObjectId[]): Promise<Map<string, string>> {
  const now = deps.clock.now().getTime();
  const out = new Map<string, string>();
  const missing: ObjectId[] = [];
  for (const id of userIds) {
    const hit = known.get(id.toHexString());
    if (!hit || hit.until <= now) missing.push(id);
    else if (hit.key !== null) out.set(id.toHexString(), hit.key);
  }
  if (!missing.length) return out;
  const found =
    missing.length === 1
      ? await keys(deps).find({ _id: missing[0] }).toArray()
      : await keys(deps)
          .find({ _id: { $in: missing } })
          .toArray();
  for (const k of found) out.set(k._id.toHexString(), k.public_key);
  for (const id of missing.map((m) => m.toHexString())) {
    if (known.size >= KNOWN_MAX) known.delete(known.keys().next().value!);
    known.set(id, { key: out.get(id) ?? null, until: now + KNOWN_SECONDS * 1000 });
  }
  return out;
}

const keyTaken = () =>
  new AppError("CONFLICT", "This account key belongs to another account", {
    public_key: "already the account key of another account",
  });

export async function assertKeyFree(deps: Deps, publicKey: string, userId?: ObjectId) {
  const other = await keys(deps).findOne({ public_key: publicKey }, { projection: { _id: 1 } });
  if (other && !(userId && other._id.equals(userId))) throw keyTaken();
}

/** Sets (or replaces) the account's key; a key another account holds is a 409 naming `public_key`. */
export async function setAccountKey(deps: Deps, userId: ObjectId, publicKey: string) {
  known.delete(userId.toHexString());
  try {
    await keys(deps).replaceOne(
      { _id: userId },
      { public_key: publicKey, created_at: deps.clock.now() },
      { upsert: true },
    );
  } catch (err) {
    if (isDuplicateKey(err)) throw keyTaken();
    throw err;
  }
}

export const findReset = (deps: Deps, userId: ObjectId) => resets(deps).findOne({ _id: userId });
export const saveReset = (deps: Deps, doc: KeyResetDoc) =>
  resets(deps).replaceOne({ _id: doc._id }, doc, { upsert: true });
export const dropReset = (deps: Deps, userId: ObjectId) => resets(deps).deleteOne({ _id: userId });
