import type { z } from "@hono/zod-openapi";
import type { ObjectId } from "mongodb";
import type { Deps } from "../deps.js";
import { blockersAmong } from "../relations/policy.js";
import { iso } from "../shared/clock.js";
import { findUsers } from "../users/repo.js";
import { type MemberDoc, membersOfMany } from "./members.js";
import type { ConversationDoc } from "./repo.js";
import type { ConversationBody } from "./schemas.js";

type Body = z.infer<typeof ConversationBody>;

/**
 * Conversations as the viewer sees them, with every other member's public face: one query for
 * the members of all of them, one for the users, one for who among them blocked the viewer (their
 * presence is hidden from the viewer, as it is for those who do not share it).
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
  const [users, blockers] = await Promise.all([findUsers(deps, ids), blockersAmong(deps, viewer, ids)]);

  return items.map(({ conversation: c, me }) => {
    const participants = (members.get(c._id.toHexString()) ?? [])
      .filter((m) => !m.user_id.equals(viewer))
      .flatMap((m) => {
        const u = users.get(m.user_id.toHexString());
        if (!u) return [];
        const shares = u.privacy.show_online_status && !blockers.has(u._id.toHexString());
        return [
          {
            user_id: u._id.toHexString(),
            username: u.username,
            full_name: u.profile.full_name,
            avatar_url: u.profile.avatar_url,
            online: false,
            last_seen: shares ? iso(u.last_seen_at) : null,
            role: m.role,
          },
        ];
      });
    // A message from before the viewer joined was not wrapped for them: not theirs to preview.
    const last = c.last_message && c.last_message.seq > me.joined_seq ? c.last_message : null;
    return {
      id: c._id.toHexString(),
      type: c.kind,
      name: c.name,
      picture_url: c.picture_url,
      participants,
      member_count: c.member_count,
      role: me.role,
      last_message: last && {
        message_id: last.message_id.toHexString(),
        encrypted_preview: last.encrypted_preview,
        timestamp: iso(last.timestamp),
        sender_id: last.sender_id?.toHexString() ?? null,
      },
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
