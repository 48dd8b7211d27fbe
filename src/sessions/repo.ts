import type { Db, ObjectId } from "mongodb";
import { isDuplicateKey, newId } from "../db/ids.js";
import { owned } from "../db/owned.js";
import type { Deps } from "../deps.js";
import { touchDevice } from "../devices/repo.js";
import { AppError } from "../http/errors.js";
import { addSeconds } from "../lib/clock.js";
import { hashRefreshToken, newRefreshToken } from "./tokens.js";

export interface AuthSessionDoc {
  _id: ObjectId;
  user_id: ObjectId;
  device_id: string;
  refresh_hash: string;
  created_at: Date;
  last_used_at: Date;
  expires_at: Date;
  /** Set while the account is suspended: the gate refuses the session, refresh answers 403. */
  suspended_at?: Date | null;
}
/** Hashes of rotated-out refresh tokens, kept only to spot reuse until the session would have ended. */
export interface UsedRefreshDoc {
  _id: string;
  session_id: ObjectId;
  expires_at: Date;
}
export const authSessions = owned<AuthSessionDoc>({
  name: "auth_sessions",
  owner: "sessions",
  holds: "a device's login: the SHA-256 of its current refresh token, created and last-used times",
  indexes: [
    { key: { refresh_hash: 1 }, options: { unique: true } },
    { key: { user_id: 1, device_id: 1 } },
    { key: { user_id: 1, created_at: 1, expires_at: 1 } },
  ],
  expires: true,
  onExpiry: "erased when the refresh token's lifetime ends without use",
  onAccountDeletion: "erased",
  eraseAccount: (col, a) => col.deleteMany({ user_id: a._id }),
  eraseDevice: (col, userId, deviceId) => col.deleteMany({ user_id: userId, device_id: deviceId }),
});
export const usedRefresh = owned<UsedRefreshDoc>({
  name: "used_refresh_tokens",
  owner: "sessions",
  holds: "the SHA-256 of a spent refresh token, to detect its reuse",
  indexes: [{ key: { session_id: 1 } }],
  expires: true,
  onExpiry: "erased when its session would have ended",
  onAccountDeletion: "erased with the account's sessions (listed before them)",
  eraseAccount: async (col, a) => col.deleteMany({ session_id: { $in: await sessionIds(col.db, a._id) } }),
  eraseDevice: async (col, userId, deviceId) =>
    col.deleteMany({ session_id: { $in: await sessionIds(col.db, userId, deviceId) } }),
});

export interface TokenPair {
  session_token: string;
  refresh_token: string;
  token_type: "Bearer";
  expires_in: number;
}

const sessionsOf = (deps: Deps) => authSessions.col(deps.store.db);
const usedOf = (deps: Deps) => usedRefresh.col(deps.store.db);

async function sessionIds(db: Db, userId: ObjectId, deviceId?: string) {
  const filter = { user_id: userId, ...(deviceId === undefined ? {} : { device_id: deviceId }) };
  const found = await authSessions
    .col(db)
    .find(filter, { projection: { _id: 1 } })
    .toArray();
  return found.map((s) => s._id);
}

/** Opens an auth session for a device; one session a device, so a fresh login replaces the old one. */
export async function openSession(deps: Deps, userId: ObjectId, deviceId: string): Promise<TokenPair> {
  await revokeWhere(deps, { user_id: userId, device_id: deviceId });
  const now = deps.clock.now();
  const refresh = newRefreshToken();
  const _id = newId();
  await sessionsOf(deps).insertOne({
    _id,
    user_id: userId,
    device_id: deviceId,
    refresh_hash: refresh.hash,
    created_at: now,
    last_used_at: now,
    expires_at: addSeconds(now, deps.config.REFRESH_TOKEN_TTL),
  });
  return tokenPair(deps, userId, deviceId, _id, refresh.token);
}

async function tokenPair(
  deps: Deps,
  userId: ObjectId,
  deviceId: string,
  sessionId: ObjectId,
  refresh: string,
) {
  const session_token = await deps.tokens.signAccess({
    userId: userId.toHexString(),
    deviceId,
    sessionId: sessionId.toHexString(),
  });
  return {
    session_token,
    refresh_token: refresh,
    token_type: "Bearer" as const,
    expires_in: deps.tokens.accessTtl,
  };
}

/**
 * Erases the session and what was kept to spot reuse of its refresh tokens, and closes its
 * WebSockets on every server process (close code 4001).
 */
export async function revokeSession(deps: Deps, sessionId: ObjectId) {
  const { deletedCount } = await sessionsOf(deps).deleteOne({ _id: sessionId });
  await usedOf(deps).deleteMany({ session_id: sessionId });
  if (deletedCount) {
    await deps.bus.publish({ kind: "close", session_id: sessionId.toHexString(), reason: "SESSION_ENDED" });
  }
  return deletedCount === 1;
}

export async function revokeWhere(deps: Deps, filter: { user_id: ObjectId; device_id?: string }) {
  const ids = await sessionIds(deps.store.db, filter.user_id, filter.device_id);
  await Promise.all(ids.map((id) => revokeSession(deps, id)));
}

/**
 * Rotates a refresh token. Each token works once: the first use records its hash (a unique insert,
 * atomic on both stores); any later use of it is taken as theft and ends the whole session.
 */
export async function rotateRefresh(deps: Deps, token: string): Promise<TokenPair> {
  const authSessions = sessionsOf(deps);
  const usedRefresh = usedOf(deps);
  const hash = hashRefreshToken(token);
  const now = deps.clock.now();
  const session = await authSessions.findOne({ refresh_hash: hash });
  if (session?.suspended_at) throw new AppError("ACCOUNT_SUSPENDED");
  if (!session || session.expires_at <= now) {
    const used = await usedRefresh.findOne({ _id: hash });
    if (used) {
      await revokeSession(deps, used.session_id);
      throw new AppError("REFRESH_TOKEN_REUSED");
    }
    throw new AppError("UNAUTHORIZED", "Invalid or expired refresh token");
  }
  try {
    await usedRefresh.insertOne({ _id: hash, session_id: session._id, expires_at: session.expires_at });
  } catch (err) {
    if (!isDuplicateKey(err)) throw err;
    await revokeSession(deps, session._id); // two uses raced: the same signal as a replay
    throw new AppError("REFRESH_TOKEN_REUSED");
  }
  const next = newRefreshToken();
  const expires_at = addSeconds(now, deps.config.REFRESH_TOKEN_TTL);
  const { matchedCount } = await authSessions.updateOne(
    { _id: session._id },
    { $set: { refresh_hash: next.hash, last_used_at: now, expires_at } },
  );
  // A racing replay may have revoked the session between our read and this write.
  if (matchedCount === 0) throw new AppError("REFRESH_TOKEN_REUSED");
  await usedRefresh.updateMany({ session_id: session._id }, { $set: { expires_at } });
  await touchDevice(deps, session.user_id, session.device_id);
  return tokenPair(deps, session.user_id, session.device_id, session._id, next.token);
}

/** The account's live sessions, oldest first. */
export const listSessions = (deps: Deps, userId: ObjectId) =>
  sessionsOf(deps)
    .find({ user_id: userId, expires_at: { $gt: deps.clock.now() } })
    .sort({ created_at: 1 })
    .toArray();

export const findSession = (deps: Deps, id: ObjectId, userId: ObjectId) =>
  sessionsOf(deps).findOne({ _id: id, user_id: userId });

/** The session behind an access token, with just what the auth gate checks. */
export const sessionForGate = (deps: Deps, id: ObjectId) =>
  sessionsOf(deps).findOne(
    { _id: id },
    { projection: { user_id: 1, device_id: 1, expires_at: 1, suspended_at: 1 } },
  );

/**
 * Cuts every session of a suspended account at once: each is marked (so the gate refuses its
 * access tokens and refresh answers 403 ACCOUNT_SUSPENDED rather than a bare 401) and its sockets
 * are closed on every process with 4005, as logout closes one session's.
 */
export async function suspendSessions(deps: Deps, userId: ObjectId) {
  await sessionsOf(deps).updateMany({ user_id: userId }, { $set: { suspended_at: deps.clock.now() } });
  const ids = await sessionIds(deps.store.db, userId);
  for (const id of ids) {
    await deps.bus.publish({ kind: "close", session_id: id.toHexString(), reason: "ACCOUNT_SUSPENDED" });
  }
  return ids.length;
}

/** Lifting a suspension does not revive the sessions it cut: they go, and the person logs in again. */
export const endSuspendedSessions = (deps: Deps, userId: ObjectId) => revokeWhere(deps, { user_id: userId });
