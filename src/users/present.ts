import type { z } from "@hono/zod-openapi";
import { isOnline } from "../delivery/presence.js";
import type { Deps } from "../deps.js";
import { toDeviceBody } from "../devices/present.js";
import type { ListedDevice } from "../devices/repo.js";
import type { Auth } from "../http/openapi.js";
import { iso } from "../lib/clock.js";
import { coarseLastSeen } from "../policy/policy.js";
import { loadUser, type UserDoc } from "./repo.js";
import type { PublicUserBody, UserBody } from "./schemas.js";

/** Stored documents to API bodies: the one place field names and dates are shaped for clients. */

/** `online`: the user has an open WebSocket on some server process (src/delivery/presence.ts). */
/** `account_key`: the account key (src/devices/account-keys.ts), HABIBTI's `public_key`. */
export function toUserBody(
  u: UserDoc & { account_key: string | null },
  devices: ListedDevice[],
  currentDeviceId?: string,
  online = false,
): z.infer<typeof UserBody> {
  return {
    id: u._id.toHexString(),
    email: u.email,
    username: u.username,
    public_key: u.account_key,
    profile: { ...u.profile, created_at: iso(u.created_at) },
    privacy: u.privacy,
    devices: devices.map((d) => toDeviceBody(d, currentDeviceId)),
    status: { online, last_seen: iso(u.last_seen_at) },
  };
}

/**
 * `online` is null when the viewer may not see the user's status (src/policy/policy.ts), and
 * last seen is shown to others as policy's coarse grain.
 */
export function toPublicUser(u: UserDoc, online: boolean | null): z.infer<typeof PublicUserBody> {
  return {
    id: u._id.toHexString(),
    username: u.username,
    profile: { full_name: u.profile.full_name, bio: u.profile.bio, avatar_url: u.profile.avatar_url },
    status: online === null ? null : { online, last_seen: iso(coarseLastSeen(u.last_seen_at)) },
  };
}

/** The caller's own account, with its devices and whether it is online: GET /users/me, GET /auth/me. */
export async function ownAccount(deps: Deps, auth: Auth): Promise<z.infer<typeof UserBody>> {
  const [{ user, devices }, online] = await Promise.all([
    loadUser(deps, auth.userId),
    isOnline(deps, auth.userId),
  ]);
  return toUserBody(user, devices, auth.deviceId, online);
}
