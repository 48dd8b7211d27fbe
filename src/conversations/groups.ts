import { parseId } from "../db/ids.js";
import type { Deps } from "../deps.js";
import { AppError } from "../http/errors.js";
import type { Handlers } from "../http/openapi.js";
import { assertMayActIn, assertMayAddToGroup } from "../policy/policy.js";
import { findUser, findUsers } from "../users/repo.js";
import { otherOf } from "./access.js";
import type { ConversationContext } from "./context.js";
import { depart, findMember, join, type MemberDoc, membersOf } from "./members.js";
import { MAX_GROUP } from "./repo.js";
import type * as r from "./routes.js";
import { changeSetting, createGroup } from "./settings.js";

/**
 * Admins rank by standing (`rank`: the order members joined, the creator first). An admin acts on a
 * plain member freely, and on another admin only one who joined later, so no admin can oust one of
 * longer standing, and nobody the creator while they stay.
 */
const outranks = (me: MemberDoc, other: MemberDoc) =>
  me.role === "admin" && (other.role !== "admin" || me.rank < other.rank);
const junior = () =>
  new AppError("FORBIDDEN", "Only an admin of longer standing may remove or demote an admin", {
    user_id: "an admin who joined before you",
  });

/** The routes of groups only, among those of ./routes.ts. */
type GroupRoute =
  | "createGroup"
  | "updateGroup"
  | "addMember"
  | "removeMember"
  | "addAdmin"
  | "removeAdmin"
  | "leaveGroup";

/**
 * Groups: creation, name and picture, members, admins, leaving. Admin-only actions say so. Part of
 * the conversations' handlers (./handlers.ts), typed by their routes.
 */
export function groupHandlers(deps: Deps, ctx: ConversationContext): Pick<Handlers<typeof r>, GroupRoute> {
  const { limit, present, group } = ctx;

  return {
    createGroup: async (c) => {
      const auth = c.get("auth");
      await limit(c);
      const body = c.req.valid("json");
      const ids = body.participant_ids.map((id, i) => parseId(id, `participant_ids.${i}`));
      const self = ids.findIndex((id) => id.equals(auth.userId));
      if (self >= 0) {
        throw new AppError("VALIDATION_ERROR", "The creator is a member already", {
          [`participant_ids.${self}`]: "cannot be yourself",
        });
      }
      const users = await findUsers(deps, ids);
      for (const [i, id] of ids.entries()) {
        const user = users.get(id.toHexString());
        const field = `participant_ids.${i}`;
        if (!user) throw new AppError("USER_NOT_FOUND", undefined, { [field]: "user not found" });
        await assertMayAddToGroup(deps, auth.userId, user, field);
      }
      const id = await createGroup(deps, auth, {
        name: body.name,
        picture_url: body.picture_url ?? null,
        participants: ids,
      });
      return c.json(await present(auth, id), 201);
    },
    updateGroup: async (c) => {
      const auth = c.get("auth");
      const asked = c.req.valid("json");
      const body = asked.ttl_seconds === 0 ? { ...asked, ttl_seconds: null } : asked;
      const id = c.req.valid("param").conversation_id;
      const timerOnly = Object.keys(body).every((k) => k === "ttl_seconds");
      // The timer alone may be set by either member of a 1:1; everything else is a group admin's.
      const { conversation, me } = timerOnly ? await ctx.load(c, id) : await group(c, id, true);
      if (conversation.kind === "group" && me.role !== "admin") {
        throw new AppError("FORBIDDEN", "Only group admins may do this");
      }
      // In a 1:1 the timer reaches the other person's devices: held to the send rule (blocks included).
      if (conversation.kind === "one_to_one") {
        const members = await membersOf(deps, conversation._id);
        await assertMayActIn(
          deps,
          auth.userId,
          "one_to_one",
          otherOf(deps, "one_to_one", members, auth.userId),
        );
      }
      const renamed = body.name !== undefined || body.picture_url !== undefined;
      await changeSetting(deps, auth, conversation, {
        reason: renamed ? "renamed" : "timer_changed",
        set: body,
      });
      return c.json(await present(auth, conversation._id), 200);
    },
    addMember: async (c) => {
      const auth = c.get("auth");
      const { conversation } = await group(c, c.req.valid("param").conversation_id, true);
      const target = parseId(c.req.valid("json").user_id, "user_id");
      const user = await findUser(deps, target);
      if (!user) throw new AppError("USER_NOT_FOUND", undefined, { user_id: "user not found" });
      await assertMayAddToGroup(deps, auth.userId, user, "user_id");
      const already = () => new AppError("CONFLICT", "Already a member", { user_id: "already a member" });
      if (await findMember(deps, conversation._id, target)) throw already();
      const joined = await join(deps, conversation._id, target, auth);
      if (joined === "full") throw new AppError("INVALID_STATE", `A group has at most ${MAX_GROUP} members`);
      if (joined === "member") throw already();
      return c.json(await present(auth, conversation._id), 201);
    },
    removeMember: async (c) => {
      const auth = c.get("auth");
      const params = c.req.valid("param");
      const target = parseId(params.user_id, "user_id");
      const self = target.equals(auth.userId);
      const { conversation, me } = await group(c, params.conversation_id, !self);
      const member = self ? me : await findMember(deps, conversation._id, target);
      if (member && !self && !outranks(me, member)) throw junior();
      if (!(await depart(deps, conversation, target, self ? "member_left" : "member_removed"))) {
        throw new AppError("NOT_FOUND", "Not a member of this group", { user_id: "not a member" });
      }
      return c.body(null, 204);
    },
    addAdmin: async (c) => {
      const auth = c.get("auth");
      const { conversation } = await group(c, c.req.valid("param").conversation_id, true);
      const target = parseId(c.req.valid("json").user_id, "user_id");
      const member = await findMember(deps, conversation._id, target);
      if (!member) throw new AppError("NOT_FOUND", "Not a member of this group", { user_id: "not a member" });
      if (member.role !== "admin") {
        const named = { _id: member._id, user_id: target, role: "admin" as const };
        await changeSetting(deps, auth, conversation, { reason: "admin_added", member: named });
      }
      return c.json(await present(auth, conversation._id), 200);
    },
    removeAdmin: async (c) => {
      const auth = c.get("auth");
      const params = c.req.valid("param");
      const target = parseId(params.user_id, "user_id");
      const self = target.equals(auth.userId);
      const { conversation, me } = await group(c, params.conversation_id, true);
      const member = self ? me : await findMember(deps, conversation._id, target);
      if (!member) throw new AppError("NOT_FOUND", "Not a member of this group", { user_id: "not a member" });
      if (!self && !outranks(me, member)) throw junior();
      if (member.role === "admin") {
        const stepping = { _id: member._id, user_id: target, role: "member" as const };
        if (!(await changeSetting(deps, auth, conversation, { reason: "admin_removed", member: stepping }))) {
          throw new AppError("INVALID_STATE", "A group keeps at least one admin; promote another first");
        }
      }
      return c.json(await present(auth, conversation._id), 200);
    },
    leaveGroup: async (c) => {
      const { conversation } = await group(c, c.req.valid("param").conversation_id, false);
      await depart(deps, conversation, c.get("auth").userId, "member_left");
      return c.body(null, 204);
    },
  };
}
