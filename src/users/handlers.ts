import type { ObjectId } from "mongodb";
import { parseId } from "../db/ids.js";
import { isOnline } from "../delivery/presence.js";
import type { Deps } from "../deps.js";
import type { Handlers } from "../http/openapi.js";
import { canSee, maySeePresence, visibleTo } from "../policy/policy.js";
import { ownAccount, toPublicUser } from "./present.js";
import {
  assertPastDate,
  deleteAccount,
  findDiscoverable,
  findUser,
  type UserDoc,
  updateUser,
} from "./repo.js";
import * as r from "./routes.js";

/** The handlers of the routes in ./routes.ts, typed by them; ./index.ts wires them. */
export function userHandlers(deps: Deps): Handlers<typeof r> {
  /** Another user as the viewer sees them: with their status only where policy allows. */
  const publicView = async (viewer: ObjectId, user: UserDoc) =>
    toPublicUser(user, (await maySeePresence(deps, viewer, user)) ? await isOnline(deps, user._id) : null);

  return {
    getMe: async (c) => {
      const auth = c.get("auth");
      return c.json(await ownAccount(deps, auth), 200);
    },
    updateMe: async (c) => {
      const auth = c.get("auth");
      const { privacy, username, ...fields } = c.req.valid("json");
      assertPastDate(fields.date_of_birth, deps.clock.now());
      const set: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(fields)) set[`profile.${k}`] = v;
      for (const [k, v] of Object.entries(privacy ?? {})) set[`privacy.${k}`] = v;
      if (username) Object.assign(set, { username, username_lower: username.toLowerCase() });
      await updateUser(deps, auth.userId, set);
      return c.json(await ownAccount(deps, auth), 200);
    },
    deleteMe: async (c) => {
      await deleteAccount(deps, c.get("auth").userId);
      return c.body(null, 204);
    },
    searchUsers: async (c) => {
      const { q } = c.req.valid("query");
      const me = c.get("auth").userId;
      await deps.limiter.enforce(c, r.searchRule, me.toHexString());
      const found = await findDiscoverable(deps, q.includes("@") ? "email" : "username", q);
      const visible = found && (await canSee(deps, me, found._id));
      return c.json({ users: visible ? [await publicView(me, found)] : [] }, 200);
    },
    getUser: async (c) => {
      const id = parseId(c.req.valid("param").user_id, "user_id");
      const me = c.get("auth").userId;
      await deps.limiter.enforce(c, r.lookupRule, me.toHexString());
      const user = await visibleTo(deps, me, await findUser(deps, id));
      return c.json(await publicView(me, user), 200);
    },
  };
}
