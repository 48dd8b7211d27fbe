import type { ObjectId } from "mongodb";
import { isOnline } from "../delivery/presence.js";
import type { Deps } from "../deps.js";
import { coarseLastSeen, presenceAudience } from "../policy/policy.js";
import { findUser, touchLastSeen } from "../users/repo.js";

/**
 * Tells the user's audience (src/policy/policy.ts) that they came online or went offline.
 * Going offline records last seen first; and since a socket may open elsewhere meanwhile, the
 * state is read again after the offline notice and an online one follows if it changed.
 */
export async function announce(deps: Deps, userId: ObjectId, online: boolean) {
  if (!online) await touchLastSeen(deps, userId);
  const user = await findUser(deps, userId);
  if (!user) return;
  const audience = await presenceAudience(deps, user);
  if (!audience.length) return;
  const send = (isOnline: boolean) => {
    const lastSeen = coarseLastSeen(isOnline ? deps.clock.now() : user.last_seen_at);
    return deps.bus.publish({
      kind: "live",
      to: audience.map((u) => deps.bus.keys.user(u.toHexString())),
      about: userId.toHexString(),
      event: {
        type: "user_status",
        data: { user_id: userId.toHexString(), online: isOnline, last_seen: lastSeen.toISOString() },
      },
    });
  };
  await send(online);
  if (!online && (await isOnline(deps, userId))) await send(true);
}
