import { hasBlocked } from "../blocks/repo.js";
import { parseId } from "../db/ids.js";
import type { Deps } from "../deps.js";
import { AppError } from "../shared/errors.js";
import { createRouter } from "../shared/openapi.js";
import { toPublicUser, toUserBody } from "./present.js";
import { assertPastDate, deleteAccount, duplicateUserError, loadUser } from "./repo.js";
import * as r from "./routes.js";

export function userRoutes(deps: Deps) {
  const app = createRouter();
  const { users } = deps.store.col;

  // Declared before getUser: a static segment must win over /users/{user_id}.
  app.openapi(r.getMe, async (c) => {
    const auth = c.get("auth");
    const { user, devices } = await loadUser(deps, auth.userId);
    return c.json(toUserBody(user, devices, auth.deviceId), 200);
  });

  app.openapi(r.updateMe, async (c) => {
    const auth = c.get("auth");
    const { privacy, username, ...fields } = c.req.valid("json");
    assertPastDate(fields.date_of_birth, deps.clock.now());
    const set: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(fields)) {
      if (k === "public_key") set.public_key = v;
      else set[`profile.${k}`] = v;
    }
    for (const [k, v] of Object.entries(privacy ?? {})) set[`privacy.${k}`] = v;
    if (username) Object.assign(set, { username, username_lower: username.toLowerCase() });
    const id = auth.userId;
    if (username) {
      const other = await users.findOne({ username_lower: username.toLowerCase(), _id: { $ne: id } });
      if (other) throw new AppError("USERNAME_TAKEN", undefined, { username: "already taken" });
    }
    try {
      await users.updateOne({ _id: id }, { $set: set });
    } catch (err) {
      throw duplicateUserError(err) ?? err;
    }
    const { user, devices } = await loadUser(deps, auth.userId);
    return c.json(toUserBody(user, devices, auth.deviceId), 200);
  });

  app.openapi(r.deleteMe, async (c) => {
    await deleteAccount(deps, c.get("auth").userId);
    return c.body(null, 204);
  });

  app.openapi(r.searchUsers, async (c) => {
    const { q } = c.req.valid("query");
    const me = c.get("auth").userId;
    const needle = q.toLowerCase();
    const found = needle.includes("@")
      ? await users.findOne({ email: needle, "privacy.discoverable_by_email": true })
      : await users.findOne({ username_lower: needle, "privacy.discoverable_by_username": true });
    const visible = found && !(await hasBlocked(deps, found._id, me));
    return c.json({ users: visible ? [toPublicUser(found)] : [] }, 200);
  });

  app.openapi(r.getUser, async (c) => {
    const id = parseId(c.req.valid("param").user_id, "user_id");
    const me = c.get("auth").userId;
    const user = await users.findOne({ _id: id });
    if (!user || (await hasBlocked(deps, id, me))) throw new AppError("USER_NOT_FOUND");
    return c.json(toPublicUser(user), 200);
  });

  return app;
}
