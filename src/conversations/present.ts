import type { z } from "@hono/zod-openapi";
import type { ObjectId } from "mongodb";
import { onlineAmong } from "../delivery/presence.js";
import type { Deps } from "../deps.js";
import { iso } from "../lib/clock.js";
import { together } from "../lib/together.js";
import { coarseLastSeen, viewOfPeople } from "../policy/policy.js";
import { findUsers } from "../users/repo.js";
import { type MemberDoc, membersOfMany } from "./members.js";
import { type ConversationDoc, findConversations } from "./repo.js";
import type { ConversationBody } from "./schemas.js";

type Body = z.infer<typeof ConversationBody>;

/**
 * The viewer's conversations (their memberships; `known` the conversations already read) as they
 * see them, with every other member's public face, in two waits: the conversations with the
 * members of all of them, then those members' users with what the viewer may see of them (who
 * looks absent in a 1:1, a blocker shown as a deleted account is, and whose presence they see:
 * policy.ts) and who is online. Reads that need only ids run at once (`together`).
 */
export async function toConversationBodies(
  deps: Deps,
  viewer: ObjectId,
  mine: MemberDoc[],
  known: ConversationDoc[] = [],
): Promise<Body[]> {
  const given = new Map(known.map((c) => [c._id.toHexString(), c]));
  const ids = mine.map((m) => m.conversation_id);
  const [found, members] = await together(
    findConversations(
      deps,
      ids.filter((id) => !given.has(id.toHexString())),
    ),
    membersOfMany(deps, ids),
  );
  const items = mine.flatMap((me) => {
    const k = me.conversation_id.toHexString();
    const conversation = given.get(k) ?? found.get(k);
    return conversation ? [{ conversation, me }] : [];
  });
  const others = [...members.values()].flat().filter((m) => !m.user_id.equals(viewer));
  const people = [...new Map(others.map((m) => [m.user_id.toHexString(), m.user_id])).values()];
  const [users, view, online] = await together(
    findUsers(deps, people),
    viewOfPeople(deps, viewer, people),
    onlineAmong(deps, people),
  );

  return items.map(({ conversation: c, me }) => {
    const hidden = (id: ObjectId | null) => !!id && view.absent(c.kind, id);
    const participants = (members.get(c._id.toHexString()) ?? [])
      .filter((m) => !m.user_id.equals(viewer) && !hidden(m.user_id))
      .flatMap((m) => {
        const u = users.get(m.user_id.toHexString());
        if (!u) return [];
        const shares = view.presence(u);
        return [
          {
            user_id: u._id.toHexString(),
            username: u.username,
            full_name: u.profile.full_name,
            avatar_url: u.profile.avatar_url,
            online: shares && online.has(u._id.toHexString()),
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
  const [body] = await toConversationBodies(deps, viewer, [me], [conversation]);
  return body!;
}
