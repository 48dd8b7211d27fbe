import type { z } from "@hono/zod-openapi";
import { ObjectId } from "mongodb";
import { isDuplicateKey, newId } from "../db/ids.js";
import { eraseAccount, never, owned } from "../db/owned.js";
import type { Deps } from "../deps.js";
import { accountDevices } from "../devices/repo.js";
import { AppError } from "../http/errors.js";
import { escapeRegex } from "../lib/regex.js";
import { beginOp, endOp, findOp, type OpDoc, takeOp } from "../recovery/ops.js";
import type { ProfileFields } from "./schemas.js";

export interface Privacy {
  discoverable_by_email: boolean;
  discoverable_by_username: boolean;
  show_online_status: boolean;
  read_receipts: boolean;
  allow_messages_from: "everyone" | "contacts";
}
export interface Profile {
  full_name: string;
  mobile: string | null;
  address: string | null;
  date_of_birth: string | null;
  gender: "male" | "female" | "non_binary" | "other" | "prefer_not_to_say" | null;
  bio: string | null;
  avatar_url: string | null;
}
export interface UserDoc {
  _id: ObjectId;
  email: string;
  username: string;
  username_lower: string;
  profile: Profile;
  privacy: Privacy;
  status: "active" | "suspended";
  /** While suspended: when, and the operator's reason (never shown to others). */
  suspended_at?: Date | null;
  suspend_reason?: string | null;
  created_at: Date;
  last_seen_at: Date;
}
export const users = owned<UserDoc>({
  name: "users",
  owner: "users",
  holds: "an account: email, username, profile fields, privacy settings",
  indexes: [
    { key: { email: 1 }, options: { unique: true } },
    { key: { username_lower: 1 }, options: { unique: true } },
    // `npm run admin -- stats` counts suspended accounts from it.
    { key: { status: 1 } },
  ],
  ...never,
  onAccountDeletion: "erased (last, so a deletion cut short can be run again)",
  eraseAccount: (col, a) => col.deleteOne({ _id: a._id }),
});
const col = (deps: Deps) => users.col(deps.store.db);

export const findUser = (deps: Deps, id: ObjectId) => col(deps).findOne({ _id: id });
/** The user was last seen now (their last socket closed). */
export const touchLastSeen = (deps: Deps, id: ObjectId) =>
  col(deps).updateOne({ _id: id }, { $set: { last_seen_at: deps.clock.now() } });

export const findByEmail = (deps: Deps, email: string) => col(deps).findOne({ email });
export const emailExists = async (deps: Deps, email: string) =>
  (await col(deps).countDocuments({ email }, { limit: 1 })) > 0;

/** Several users by id, keyed by hex id; one `$in` query (no `$lookup` on the local store). */
export async function findUsers(deps: Deps, ids: ObjectId[]) {
  const found = ids.length
    ? await col(deps)
        .find({ _id: { $in: ids } })
        .toArray()
    : [];
  return new Map(found.map((u) => [u._id.toHexString(), u]));
}

/** Exact lookup by email or username, only of users who allow being found that way. */
export function findDiscoverable(deps: Deps, by: "email" | "username", value: string) {
  const needle = value.toLowerCase();
  return by === "email"
    ? col(deps).findOne({ email: needle, "privacy.discoverable_by_email": true })
    : col(deps).findOne({ username_lower: needle, "privacy.discoverable_by_username": true });
}

/** Which of `ids` have a username containing `search`. */
export async function matchUsernames(deps: Deps, ids: ObjectId[], search: string) {
  if (!ids.length) return [];
  const found = await col(deps)
    .find({ _id: { $in: ids }, username_lower: { $regex: escapeRegex(search.toLowerCase()) } })
    .project<{ _id: ObjectId }>({ _id: 1 })
    .toArray();
  return found.map((u) => u._id);
}

/** Applies a profile/privacy/username change; a username taken meanwhile is a 409 naming it. */
export async function updateUser(deps: Deps, id: ObjectId, set: Record<string, unknown>) {
  if (typeof set.username_lower === "string") {
    const other = await col(deps).findOne(
      { username_lower: set.username_lower, _id: { $ne: id } },
      { projection: { _id: 1 } },
    );
    if (other) throw usernameTaken();
  }
  try {
    await col(deps).updateOne({ _id: id }, { $set: set });
  } catch (err) {
    throw duplicateUserError(err) ?? err;
  }
}

/**
 * Exact-email discovery is off until the user turns it on: an address is often known to people the
 * user never gave it to, and "is this address on Hush?" is what sign-up and login refuse to answer.
 */
export const defaultPrivacy: Privacy = {
  discoverable_by_email: false,
  discoverable_by_username: true,
  show_online_status: true,
  read_receipts: true,
  allow_messages_from: "everyone",
};

/** Birth dates are checked against the injected clock, which zod cannot see. */
export function assertPastDate(date: string | null | undefined, now: Date) {
  if (date && new Date(`${date}T00:00:00Z`) >= now) {
    throw new AppError("VALIDATION_ERROR", "date_of_birth must be in the past", {
      date_of_birth: "must be in the past",
    });
  }
}

const emailTaken = () => new AppError("EMAIL_TAKEN", undefined, { email: "already registered" });
const usernameTaken = () => new AppError("USERNAME_TAKEN", undefined, { username: "already taken" });

/** Maps a unique-index violation on users (a race the checks before it lost) to its field. */
export function duplicateUserError(err: unknown): AppError | null {
  if (!isDuplicateKey(err)) return null;
  return /username/.test(String((err as Error).message)) ? usernameTaken() : emailTaken();
}

/** What a new account starts with: the validated sign-up fields. */
export type NewAccount = {
  email: string;
  username: string;
  full_name: string;
} & {
  [K in Exclude<keyof typeof ProfileFields, "full_name">]?: z.infer<(typeof ProfileFields)[K]>;
};

export async function createUser(
  deps: Deps,
  body: NewAccount,
  beforeInsert: () => Promise<void>,
): Promise<UserDoc> {
  const users = col(deps);
  const now = deps.clock.now();
  assertPastDate(body.date_of_birth, now);
  if (await users.findOne({ email: body.email }, { projection: { _id: 1 } })) throw emailTaken();
  if (await users.findOne({ username_lower: body.username.toLowerCase() }, { projection: { _id: 1 } })) {
    throw usernameTaken();
  }
  await beforeInsert();
  const user: UserDoc = {
    _id: newId(),
    email: body.email,
    username: body.username,
    username_lower: body.username.toLowerCase(),
    profile: {
      full_name: body.full_name,
      mobile: body.mobile ?? null,
      address: body.address ?? null,
      date_of_birth: body.date_of_birth ?? null,
      gender: body.gender ?? null,
      bio: body.bio ?? null,
      avatar_url: null,
    },
    privacy: { ...defaultPrivacy },
    status: "active",
    created_at: now,
    last_seen_at: now,
  };
  try {
    await users.insertOne(user);
  } catch (err) {
    throw duplicateUserError(err) ?? err;
  }
  return user;
}

/**
 * The caller's own user, its account key and its devices (pending ones too); a deleted account's
 * token is no longer any good.
 */
export async function loadUser(deps: Deps, userId: ObjectId) {
  const [user, { devices, accountKey }] = await Promise.all([
    findUser(deps, userId),
    accountDevices(deps, userId),
  ]);
  if (!user) throw new AppError("UNAUTHORIZED", "Account no longer exists");
  return { user: { ...user, account_key: accountKey }, devices };
}

/**
 * Erases an account and everything hanging off it, collection by collection as the inventory
 * declares (src/inventory.ts). No transactions on the local store, so the erasure is recorded
 * first (src/recovery/ops.ts) and every step is a delete that can run again: one cut short (its
 * sessions may already be gone, so the person cannot ask again) is finished by the recovery sweep.
 * The user document goes last.
 */
export async function deleteAccount(deps: Deps, userId: ObjectId) {
  const user = await col(deps).findOne({ _id: userId }, { projection: { email: 1 } });
  if (!user) return;
  const op = await beginOp(deps, "erase_account", userId.toHexString(), userId, { email: user.email });
  if (op) {
    await deps.checkpoint?.("erase_account.recorded");
    return finishErasure(deps, op);
  }
  // One under way already: finished here only if its process let its lease pass.
  const left = await findOp(deps, "erase_account", userId.toHexString());
  const taken = left && (await takeOp(deps, left));
  if (taken) await finishErasure(deps, taken);
}

export async function finishErasure(deps: Deps, op: OpDoc) {
  await eraseAccount(deps, { _id: op.user_id, email: String(op.data.email) });
  await endOp(deps, op);
}

/**
 * The operator's list (`npm run admin -- users list`): oldest first, or those whose username
 * (or, with an "@", email) starts with `search`; prefix matches stay on the unique indexes.
 */
export function listUsers(deps: Deps, search: string | undefined, limit: number) {
  const needle = search?.trim().toLowerCase();
  const filter = !needle
    ? {}
    : needle.includes("@")
      ? { email: { $regex: `^${escapeRegex(needle)}` } }
      : { username_lower: { $regex: `^${escapeRegex(needle)}` } };
  return col(deps)
    .find(filter)
    .sort(needle ? {} : { _id: 1 })
    .limit(limit)
    .toArray();
}

/** One account by email, username or id, for the operator. */
export function findForAdmin(deps: Deps, who: string) {
  const v = who.trim().toLowerCase();
  if (/^[0-9a-f]{24}$/.test(v)) return col(deps).findOne({ _id: new ObjectId(v) });
  return v.includes("@") ? col(deps).findOne({ email: v }) : col(deps).findOne({ username_lower: v });
}

export const setSuspended = (deps: Deps, id: ObjectId, reason: string | null) =>
  col(deps).updateOne(
    { _id: id },
    reason === null
      ? { $set: { status: "active", suspended_at: null, suspend_reason: null } }
      : { $set: { status: "suspended", suspended_at: deps.clock.now(), suspend_reason: reason } },
  );

export const countSuspended = (deps: Deps) => col(deps).countDocuments({ status: "suspended" });
