import type { z } from "@hono/zod-openapi";
import type { ObjectId } from "mongodb";
import type { Deps } from "../deps.js";
import { iso } from "../lib/clock.js";
import { absentIn, coarseLastSeen, presenceVisibleAmong } from "../policy/policy.js";
import { onlineAmong } from "../presence/repo.js";
import { findUsers } from "../users/repo.js";
import { type MemberDoc, membersOfMany } from "./members.js";
import type { ConversationDoc } from "./repo.js";
import type { ConversationBody } from "./schemas.js";

type Body = z.infer<typeof ConversationBody>;

/**
 * Conversations as the viewer sees them, with every other member's public face: one query for
 * the members of all of them, one for the users, then, as the policy module decides (policy.ts), who
 * looks absent to the viewer in each (a blocker in a 1:1, shown as a deleted account is) and whose
 * presence the viewer may see; then which of those are online.
 */
export async function toConversationBodies(
  deps: Deps,
  viewer: ObjectId,
  items: { conversation: ConversationDoc; me: MemberDoc }[],
): Promise<Body[]> {
  const members = await membersOfMany(
    deps,
    items.map((i) => i.conversation._id),
  );
  const others = [...members.values()].flat().filter((m) => !m.user_id.equals(viewer));
  const ids = [...new Map(others.map((m) => [m.user_id.toHexString(), m.user_id])).values()];
  const conversations = items.map(({ conversation: c }) => ({
    id: c._id,
    kind: c.kind,
    members: (members.get(c._id.toHexString()) ?? []).map((m) => m.user_id),
  }));
  const [users, absent] = await Promise.all([findUsers(deps, ids), absentIn(deps, viewer, conversations)]);
  const shown = await presenceVisibleAmong(deps, viewer, [...users.values()]);
  const online = await onlineAmong(
    deps,
    ids.filter((id) => shown.has(id.toHexString())),
  );

  return items.map(({ conversation: c, me }) => {
    const absentHere = absent.get(c._id.toHexString());
    const hidden = (id: ObjectId | null) => !!id && !!absentHere?.has(id.toHexString());
    const participants = (members.get(c._id.toHexString()) ?? [])
      .filter((m) => !m.user_id.equals(viewer) && !hidden(m.user_id))
      .flatMap((m) => {
        const u = users.get(m.user_id.toHexString());
        if (!u) return [];
        const shares = shown.has(u._id.toHexString());
        return [
          {
            user_id: u._id.toHexString(),
            username: u.username,
            full_name: u.profile.full_name,
            avatar_url: u.profile.avatar_url,
            online: online.has(u._id.toHexString()),
            last_seen: shares ? iso(coarseLastSeen(u.last_seen_at)) : null,
            role: m.role,
          },
        ];
      });
    // A message from before the viewer joined was not wrapped for them: not theirs to preview.
    // An expired message leaves the list at once, before the expiry job replaces it.
    const now = deps.clock.now();
    const live = c.last_message && !(c.last_message.expires_at && c.last_message.expires_at <= now);
    const last = live && c.last_message!.seq > me.joined_seq ? c.last_message : null;
    return {
      id: c._id.toHexString(),
      type: c.kind,
      name: c.name,
      picture_url: c.picture_url,
      participants,
      member_count:
        c.member_count - (members.get(c._id.toHexString()) ?? []).filter((m) => hidden(m.user_id)).length,
      role: me.role,
      last_message: last && {
        message_id: last.message_id.toHexString(),
        encrypted_preview: last.encrypted_preview,
        timestamp: iso(last.timestamp),
        sender_id: hidden(last.sender_id) ? null : (last.sender_id?.toHexString() ?? null),
      },
      ttl_seconds: c.ttl_seconds ?? null,
      unread_count: me.unread_count,
      archived: me.archived,
      created_at: iso(c.created_at),
      updated_at: iso(c.updated_at),
    };
  });
}

export async function toConversationBody(
  deps: Deps,
  viewer: ObjectId,
  conversation: ConversationDoc,
  me: MemberDoc,
) {
  const [body] = await toConversationBodies(deps, viewer, [{ conversation, me }]);
  return body!;
}
