import type { Context } from "hono";
import type { ObjectId } from "mongodb";
import { type ConversationReason, devicesOf, recordChange } from "../changes/record.js";
import { parseId } from "../db/ids.js";
import type { Deps } from "../deps.js";
import { listDevicesOf } from "../devices/repo.js";
import { assertMayAddToGroup, assertMayMessage } from "../relations/policy.js";
import { AppError } from "../shared/errors.js";
import { type AppEnv, type Auth, createRouter } from "../shared/openapi.js";
import { findUser, findUsers } from "../users/repo.js";
import { mine } from "./access.js";
import { listMemberships, setArchived } from "./counters.js";
import {
  depart,
  ensureDirectMembers,
  findMember,
  insertMember,
  insertMembers,
  membersOf,
  newMember,
  setRole,
} from "./members.js";
import { toConversationBodies, toConversationBody } from "./present.js";
import {
  claimSeat,
  createOrGetDirect,
  findConversations,
  insertGroup,
  MAX_GROUP,
  releaseSeat,
  updateGroup,
} from "./repo.js";
import * as r from "./routes.js";

export function conversationRoutes(deps: Deps) {
  const app = createRouter();
  const limit = (c: Context<AppEnv>) =>
    deps.limiter.enforce(c, r.conversationRule, c.get("auth").userId.toHexString());
  const load = async (c: Context<AppEnv>, id: string) => {
    await limit(c);
    return mine(deps, parseId(id, "conversation_id"), c.get("auth").userId);
  };
  const present = async (auth: Auth, id: ObjectId) => {
    const { conversation, me } = await mine(deps, id, auth.userId);
    return toConversationBody(deps, auth.userId, conversation, me);
  };
  /** Tells every member's devices (and anyone else named) that the conversation changed. */
  const changed = async (auth: Auth, id: ObjectId, reason: ConversationReason, user: ObjectId | null) => {
    const ids = (await membersOf(deps, id)).map((m) => m.user_id);
    if (user && !ids.some((u) => u.equals(user))) ids.push(user);
    const targets = await devicesOf(deps, ids, auth);
    await recordChange(deps, {
      type: "conversation_updated",
      conversation_id: id,
      reason,
      user_id: user,
      targets,
    });
  };
  const group = async (c: Context<AppEnv>, id: string, admin: boolean) => {
    const found = await load(c, id);
    if (found.conversation.kind !== "group")
      throw new AppError("INVALID_STATE", "A 1:1 conversation has no members to manage");
    if (admin && found.me.role !== "admin") throw new AppError("FORBIDDEN", "Only group admins may do this");
    return found;
  };

  app.openapi(r.createConversation, async (c) => {
    const auth = c.get("auth");
    await limit(c);
    const other = parseId(c.req.valid("json").participant_id, "participant_id");
    if (other.equals(auth.userId)) {
      throw new AppError("VALIDATION_ERROR", "You cannot start a conversation with yourself", {
        participant_id: "cannot be yourself",
      });
    }
    const user = await findUser(deps, other);
    if (!user) throw new AppError("USER_NOT_FOUND", undefined, { participant_id: "user not found" });
    await assertMayMessage(deps, auth.userId, user, "participant_id");
    const { conversation, created } = await createOrGetDirect(deps, auth.userId, other);
    await ensureDirectMembers(deps, conversation, [auth.userId, other]);
    if (created) await changed(auth, conversation._id, "created", null);
    else await setArchived(deps, conversation._id, auth.userId, false);
    const body = await present(auth, conversation._id);
    return created ? c.json(body, 201) : c.json(body, 200);
  });

  app.openapi(r.createGroup, async (c) => {
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
    const conversation = await insertGroup(deps, body.name, body.picture_url ?? null, ids.length + 1);
    await insertMembers(deps, [
      newMember(deps, conversation, auth.userId, "admin"),
      ...ids.map((id) => newMember(deps, conversation, id, "member")),
    ]);
    await changed(auth, conversation._id, "created", null);
    return c.json(await present(auth, conversation._id), 201);
  });

  app.openapi(r.listConversations, async (c) => {
    const auth = c.get("auth");
    await limit(c);
    const q = c.req.valid("query");
    const { docs, total } = await listMemberships(deps, auth.userId, q.limit, q.skip);
    const found = await findConversations(
      deps,
      docs.map((m) => m.conversation_id),
    );
    const items = docs.flatMap((me) => {
      const conversation = found.get(me.conversation_id.toHexString());
      return conversation ? [{ conversation, me }] : [];
    });
    return c.json({ conversations: await toConversationBodies(deps, auth.userId, items), total }, 200);
  });

  app.openapi(r.getConversation, async (c) => {
    const { conversation, me } = await load(c, c.req.valid("param").conversation_id);
    return c.json(await toConversationBody(deps, c.get("auth").userId, conversation, me), 200);
  });

  app.openapi(r.listDevices, async (c) => {
    const { conversation } = await load(c, c.req.valid("param").conversation_id);
    const ids = (await membersOf(deps, conversation._id)).map((m) => m.user_id);
    const devices = (await listDevicesOf(deps, ids)).map((d) => ({
      user_id: d.user_id.toHexString(),
      device_id: d.device_id,
      identity_key: d.identity_key,
      key_type: d.key_type,
      registration_id: d.registration_id,
    }));
    return c.json({ devices }, 200);
  });

  app.openapi(r.updateGroup, async (c) => {
    const auth = c.get("auth");
    const { conversation } = await group(c, c.req.valid("param").conversation_id, true);
    await updateGroup(deps, conversation._id, c.req.valid("json"));
    await changed(auth, conversation._id, "renamed", null);
    return c.json(await present(auth, conversation._id), 200);
  });

  app.openapi(r.archiveConversation, async (c) => {
    const auth = c.get("auth");
    const { conversation } = await load(c, c.req.valid("param").conversation_id);
    await setArchived(deps, conversation._id, auth.userId, true);
    const targets = await devicesOf(deps, [auth.userId], auth);
    await recordChange(deps, {
      type: "conversation_updated",
      conversation_id: conversation._id,
      reason: "archived",
      user_id: auth.userId,
      targets,
    });
    return c.body(null, 204);
  });

  app.openapi(r.addMember, async (c) => {
    const auth = c.get("auth");
    const { conversation } = await group(c, c.req.valid("param").conversation_id, true);
    const target = parseId(c.req.valid("json").user_id, "user_id");
    const user = await findUser(deps, target);
    if (!user) throw new AppError("USER_NOT_FOUND", undefined, { user_id: "user not found" });
    await assertMayAddToGroup(deps, auth.userId, user, "user_id");
    const already = () => new AppError("CONFLICT", "Already a member", { user_id: "already a member" });
    if (await findMember(deps, conversation._id, target)) throw already();
    const seat = await claimSeat(deps, conversation._id);
    if (!seat) throw new AppError("INVALID_STATE", `A group has at most ${MAX_GROUP} members`);
    if (!(await insertMember(deps, newMember(deps, seat, target, "member")))) {
      await releaseSeat(deps, conversation._id);
      throw already();
    }
    await changed(auth, conversation._id, "member_added", target);
    return c.json(await present(auth, conversation._id), 201);
  });

  app.openapi(r.removeMember, async (c) => {
    const auth = c.get("auth");
    const params = c.req.valid("param");
    const target = parseId(params.user_id, "user_id");
    const self = target.equals(auth.userId);
    const { conversation } = await group(c, params.conversation_id, !self);
    if (!(await depart(deps, conversation, target, self ? "member_left" : "member_removed"))) {
      throw new AppError("NOT_FOUND", "Not a member of this group", { user_id: "not a member" });
    }
    return c.body(null, 204);
  });

  app.openapi(r.addAdmin, async (c) => {
    const auth = c.get("auth");
    const { conversation } = await group(c, c.req.valid("param").conversation_id, true);
    const target = parseId(c.req.valid("json").user_id, "user_id");
    const member = await findMember(deps, conversation._id, target);
    if (!member) throw new AppError("NOT_FOUND", "Not a member of this group", { user_id: "not a member" });
    if (member.role !== "admin") {
      await setRole(deps, member._id, "admin");
      await changed(auth, conversation._id, "admin_added", target);
    }
    return c.json(await present(auth, conversation._id), 200);
  });

  app.openapi(r.leaveGroup, async (c) => {
    const { conversation } = await group(c, c.req.valid("param").conversation_id, false);
    await depart(deps, conversation, c.get("auth").userId, "member_left");
    return c.body(null, 204);
  });

  return app;
}
