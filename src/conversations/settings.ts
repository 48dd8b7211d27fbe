import type { ObjectId } from "mongodb";
import { newId } from "../db/ids.js";
import { type ConversationReason, devicesOf, recordChange } from "../delivery/deliver.js";
import type { Deps } from "../deps.js";
import type { Auth } from "../http/openapi.js";
import { beginOp, endOp, noteOp, type OpDoc } from "../recovery/ops.js";
import {
  demote,
  ensureDirectMembers,
  insertMember,
  membersOf,
  newMember,
  type Role,
  setRole,
} from "./members.js";
import { type ConversationDoc, createOrGetDirect, insertGroup, updateGroup } from "./repo.js";

/*
 * Conversation changes that are one write and an announcement: a conversation's creation, a new
 * name, picture or timer, an admin named or stepping down. Each is recorded first
 * (src/recovery/ops.ts) with everything it decided, so one whose process died after the write
 * but before every member's devices heard of it is finished by the recovery sweep: a group is
 * never left without its members, and no device misses the change.
 */

/** The steps of a creation and of a settings change, by the names the crash tests kill a server at. */
export const CREATE_STEPS = ["create.recorded", "create.written", "create.announced"] as const;
export const SETTING_STEPS = ["setting.recorded", "setting.written", "setting.announced"] as const;

interface By {
  by_user: ObjectId;
  by_device: string;
}
const by = (auth: Auth): By => ({ by_user: auth.userId, by_device: auth.deviceId });

interface CreateData extends By {
  conversation_id: ObjectId;
  kind: ConversationDoc["kind"];
  name: string | null;
  picture_url: string | null;
  /** The members, creator first; their documents' ids chosen now, so a resumed insert is idempotent. */
  members: { _id: ObjectId; user_id: ObjectId; role: Role }[];
}

/** Tells every member's devices, but the one that made the change, that the conversation changed. */
async function announce(deps: Deps, id: ObjectId, reason: ConversationReason, user: ObjectId | null, d: By) {
  const ids = (await membersOf(deps, id)).map((m) => m.user_id);
  if (user && !ids.some((u) => u.equals(user))) ids.push(user);
  await recordChange(deps, {
    type: "conversation_updated",
    conversation_id: id,
    reason,
    user_id: user,
    targets: await devicesOf(deps, ids, { userId: d.by_user, deviceId: d.by_device }),
  });
}

/** A new group with the creator as its admin; recorded first, so the group never lacks its members. */
export async function createGroup(
  deps: Deps,
  auth: Auth,
  group: { name: string; picture_url: string | null; participants: ObjectId[] },
) {
  const id = newId();
  const data: CreateData = {
    conversation_id: id,
    kind: "group",
    name: group.name,
    picture_url: group.picture_url,
    members: [auth.userId, ...group.participants].map((user_id, i) => ({
      _id: newId(),
      user_id,
      role: i === 0 ? "admin" : "member",
    })),
    ...by(auth),
  };
  const op = await beginOp(deps, "create", id.toHexString(), auth.userId, { ...data });
  if (!op) throw new Error("a new conversation id was taken"); // ids are unique: never
  await deps.checkpoint?.("create.recorded");
  await finishCreate(deps, op);
  return id;
}

/**
 * The 1:1 conversation of two people, made if it is not there yet and then announced. The pair's
 * unique key arbitrates between both creating it at once; the creation is recorded under that key,
 * and when the other person's is under way this one only makes sure of the members (the other
 * announces it, or the sweep does for them).
 */
export async function createDirect(deps: Deps, auth: Auth, other: ObjectId) {
  const id = newId();
  const data = { conversation_id: id, kind: "one_to_one", other, ...by(auth) };
  const key = [auth.userId.toHexString(), other.toHexString()].sort().join(":");
  const op = await beginOp(deps, "create", key, auth.userId, data);
  if (!op) {
    const found = await createOrGetDirect(deps, auth.userId, other);
    await ensureDirectMembers(deps, found.conversation, [auth.userId, other]);
    if (found.created) await announce(deps, found.conversation._id, "created", null, by(auth));
    return { conversation_id: found.conversation._id, created: found.created };
  }
  await deps.checkpoint?.("create.recorded");
  const created = await finishCreate(deps, op);
  return { conversation_id: created.conversation_id, created: created.ours };
}

/** A creation's steps, each harmless to run again. */
export async function finishCreate(deps: Deps, op: OpDoc) {
  const d = op.data as unknown as CreateData & { other?: ObjectId };
  let id = d.conversation_id;
  let ours = true;
  if (d.kind === "group") {
    const conversation = await insertGroup(deps, id, d.name ?? "", d.picture_url, d.members.length);
    for (const [rank, m] of d.members.entries())
      await insertMember(deps, { ...newMember(deps, conversation, m.user_id, m.role, rank), _id: m._id });
  } else {
    const other = d.other as ObjectId;
    const found = await createOrGetDirect(deps, op.user_id, other, id);
    await ensureDirectMembers(deps, found.conversation, [op.user_id, other]);
    // Someone else's conversation of the pair was there first: theirs to announce, not ours.
    ours = found.conversation._id.equals(id);
    id = found.conversation._id;
  }
  await deps.checkpoint?.("create.written");
  if (ours) await announce(deps, id, "created", null, d);
  await deps.checkpoint?.("create.announced");
  await endOp(deps, op);
  return { conversation_id: id, ours };
}

interface SettingData extends By {
  conversation_id: ObjectId;
  reason: Extract<ConversationReason, "renamed" | "timer_changed" | "admin_added" | "admin_removed">;
  /** A rename, new picture or timer. */
  set?: { name?: string; picture_url?: string | null; ttl_seconds?: number | null };
  /** An admin named (role "admin") or stepping down ("member"): the member. */
  member?: { _id: ObjectId; user_id: ObjectId; role: Role };
  /** Set once the write is done: a step-down run twice must not be refused by its own first run. */
  written?: boolean;
}

/**
 * Changes a conversation's name, picture or timer, or a member's role, and announces it. False when
 * the write was refused (the last admin cannot step down). Finished by the sweep after a crash: the
 * change was decided and is made, like an edit whose client saw its server die.
 */
export async function changeSetting(
  deps: Deps,
  auth: Auth,
  conversation: ConversationDoc,
  change: Pick<SettingData, "reason" | "set" | "member">,
) {
  const data: SettingData = { conversation_id: conversation._id, ...change, ...by(auth) };
  // Each change its own record: two admins renaming at once both happen, the later one last.
  const op = await beginOp(deps, "setting", newId().toHexString(), auth.userId, { ...data });
  if (!op) throw new Error("a new operation id was taken"); // ids are unique: never
  await deps.checkpoint?.("setting.recorded");
  return finishSetting(deps, op);
}

/** A settings change's steps, each harmless to run again. */
export async function finishSetting(deps: Deps, op: OpDoc) {
  const d = op.data as unknown as SettingData;
  const id = d.conversation_id;
  if (!d.written) {
    if (d.set) await updateGroup(deps, id, d.set);
    else if (d.member?.role === "admin") await setRole(deps, d.member._id, "admin");
    else if (d.member && !(await demote(deps, id, d.member._id))) {
      await endOp(deps, op);
      return false;
    }
    await noteOp(deps, op, { written: true });
  }
  await deps.checkpoint?.("setting.written");
  await announce(deps, id, d.reason, d.member?.user_id ?? null, d);
  await deps.checkpoint?.("setting.announced");
  await endOp(deps, op);
  return true;
}
