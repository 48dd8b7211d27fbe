import type { z } from "@hono/zod-openapi";
import { ObjectId } from "mongodb";
import type { CompleteSignupRequest } from "../auth/schemas.js";
import type { Privacy, UserDoc } from "../db/collections.js";
import { isDuplicateKey } from "../db/ids.js";
import type { Deps } from "../deps.js";
import { listDevices } from "../devices/repo.js";
import { AppError } from "../shared/errors.js";

export const defaultPrivacy: Privacy = {
  discoverable_by_email: true,
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

export async function createUser(
  deps: Deps,
  body: z.infer<typeof CompleteSignupRequest>,
  beforeInsert: () => Promise<void>,
): Promise<UserDoc> {
  const { users } = deps.store.col;
  const now = deps.clock.now();
  assertPastDate(body.date_of_birth, now);
  if (await users.findOne({ email: body.email }, { projection: { _id: 1 } })) throw emailTaken();
  if (await users.findOne({ username_lower: body.username.toLowerCase() }, { projection: { _id: 1 } })) {
    throw usernameTaken();
  }
  await beforeInsert();
  const user: UserDoc = {
    _id: new ObjectId(),
    email: body.email,
    username: body.username,
    username_lower: body.username.toLowerCase(),
    public_key: body.public_key ?? null,
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

/** The caller's own user and devices; a deleted account's token is no longer any good. */
export async function loadUser(deps: Deps, userId: ObjectId) {
  const user = await deps.store.col.users.findOne({ _id: userId });
  if (!user) throw new AppError("UNAUTHORIZED", "Account no longer exists");
  return { user, devices: await listDevices(deps, userId) };
}

/**
 * Erases an account and everything hanging off it. There is no transaction on FerretDB, so the
 * user document goes last: a failure half way leaves an account that can be deleted again.
 */
export async function deleteAccount(deps: Deps, userId: ObjectId) {
  const c = deps.store.col;
  const user = await c.users.findOne({ _id: userId }, { projection: { email: 1 } });
  const sessions = await c.authSessions.find({ user_id: userId }, { projection: { _id: 1 } }).toArray();
  await c.usedRefresh.deleteMany({ session_id: { $in: sessions.map((s) => s._id) } });
  await c.authSessions.deleteMany({ user_id: userId });
  await c.prekeys.deleteMany({ user_id: userId });
  await c.devices.deleteMany({ user_id: userId });
  await c.contacts.deleteMany({ $or: [{ owner_id: userId }, { contact_id: userId }] });
  await c.blocks.deleteMany({ $or: [{ blocker_id: userId }, { blocked_id: userId }] });
  if (user) await c.otpSessions.deleteMany({ email: user.email });
  await c.users.deleteOne({ _id: userId });
}
