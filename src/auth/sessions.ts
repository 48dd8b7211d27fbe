import { ObjectId } from "mongodb";
import { isDuplicateKey } from "../db/ids.js";
import type { Deps } from "../deps.js";
import { addSeconds } from "../shared/clock.js";
import { AppError } from "../shared/errors.js";
import { hashRefreshToken, newRefreshToken } from "./tokens.js";

export interface TokenPair {
  session_token: string;
  refresh_token: string;
  token_type: "Bearer";
  expires_in: number;
}

/** Opens an auth session for a device; one session a device, so a fresh login replaces the old one. */
export async function openSession(deps: Deps, userId: ObjectId, deviceId: string): Promise<TokenPair> {
  const { authSessions } = deps.store.col;
  const old = await authSessions
    .find({ user_id: userId, device_id: deviceId }, { projection: { _id: 1 } })
    .toArray();
  await Promise.all(old.map((s) => revokeSession(deps, s._id)));
  const now = deps.clock.now();
  const refresh = newRefreshToken();
  const _id = new ObjectId();
  await authSessions.insertOne({
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

/** Erases the session and what was kept to spot reuse of its refresh tokens. */
export async function revokeSession(deps: Deps, sessionId: ObjectId) {
  const { authSessions, usedRefresh } = deps.store.col;
  const { deletedCount } = await authSessions.deleteOne({ _id: sessionId });
  await usedRefresh.deleteMany({ session_id: sessionId });
  return deletedCount === 1;
}

export async function revokeWhere(deps: Deps, filter: { user_id: ObjectId; device_id?: string }) {
  const sessions = await deps.store.col.authSessions.find(filter, { projection: { _id: 1 } }).toArray();
  await Promise.all(sessions.map((s) => revokeSession(deps, s._id)));
}

/**
 * Rotates a refresh token. Each token works once: the first use records its hash (a unique insert,
 * atomic on both stores); any later use of it is taken as theft and ends the whole session.
 */
export async function rotateRefresh(deps: Deps, token: string): Promise<TokenPair> {
  const { authSessions, usedRefresh } = deps.store.col;
  const hash = hashRefreshToken(token);
  const now = deps.clock.now();
  const session = await authSessions.findOne({ refresh_hash: hash });
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
  await deps.store.col.devices.updateOne(
    { user_id: session.user_id, device_id: session.device_id },
    { $set: { last_seen_at: now } },
  );
  return tokenPair(deps, session.user_id, session.device_id, session._id, next.token);
}
