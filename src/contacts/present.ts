import type { z } from "@hono/zod-openapi";
import { iso } from "../lib/clock.js";
import type { UserDoc } from "../users/repo.js";
import type { ContactDoc } from "./repo.js";
import type { ContactBody } from "./schemas.js";

/** A contact as its owner sees it: the other account's public profile and the owner's name for it. */
export function toContactBody(d: ContactDoc, u: UserDoc): z.infer<typeof ContactBody> {
  return {
    user_id: u._id.toHexString(),
    username: u.username,
    full_name: u.profile.full_name,
    avatar_url: u.profile.avatar_url,
    display_name: d.display_name,
    status: d.status,
    created_at: iso(d.created_at),
    updated_at: iso(d.updated_at),
  };
}
