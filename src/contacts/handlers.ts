import type { ObjectId } from "mongodb";
import { parseId } from "../db/ids.js";
import type { Deps } from "../deps.js";
import { AppError } from "../http/errors.js";
import type { Handlers } from "../http/openapi.js";
import { page } from "../http/pagination.js";
import { escapeRegex } from "../lib/regex.js";
import { assertMayRequestContact, canSee, notSelf } from "../policy/policy.js";
import { findDiscoverable, findUser, findUsers, matchUsernames } from "../users/repo.js";
import { contactsChanged } from "./notices.js";
import { toContactBody } from "./present.js";
import {
  acceptContact,
  type ContactDoc,
  contactNames,
  listContacts,
  removeContact,
  removePair,
  renameContact,
  requestContact,
} from "./repo.js";
import * as r from "./routes.js";

/** The handlers of the routes in ./routes.ts, typed by them; ./index.ts wires them. */
export function contactHandlers(deps: Deps): Handlers<typeof r> {
  const userOf = async (id: ObjectId) => {
    const user = await findUser(deps, id);
    if (!user) throw new AppError("USER_NOT_FOUND");
    return user;
  };

  /** The caller's contacts whose display name or username contains the search. */
  const matching = async (me: ObjectId, q: { search?: string; status?: ContactDoc["status"] }) => {
    const own = await contactNames(deps, me, q.status);
    const pattern = new RegExp(escapeRegex(q.search ?? ""), "i");
    const byName = own.filter((d) => d.display_name !== null && pattern.test(d.display_name));
    const byUsername = await matchUsernames(
      deps,
      own.map((d) => d.contact_id),
      q.search ?? "",
    );
    return [...byName.map((d) => d.contact_id), ...byUsername];
  };

  return {
    createContact: async (c) => {
      const body = c.req.valid("json");
      await deps.limiter.enforce(c, r.requestRule, c.get("auth").userId.toHexString());
      const user = body.user_id
        ? await findUser(deps, parseId(body.user_id, "user_id"))
        : await findDiscoverable(deps, "username", body.username ?? "");
      if (!user) throw new AppError("USER_NOT_FOUND");
      const caller = c.get("auth").userId;
      notSelf(caller, user._id, "add");
      await assertMayRequestContact(deps, caller, user._id);
      const doc = await requestContact(deps, caller, user._id, body.display_name);
      // A block made while the pair was being written must still win: the block deletes, then we look.
      if (!(await canSee(deps, caller, user._id))) {
        await removePair(deps, caller, user._id);
        throw new AppError("USER_NOT_FOUND");
      }
      await contactsChanged(deps, caller, user._id);
      const entry = toContactBody(doc, user);
      return doc.status === "requested" ? c.json(entry, 201) : c.json(entry, 200);
    },
    acceptContact: async (c) => {
      const them = parseId(c.req.valid("param").user_id, "user_id");
      const doc = await acceptContact(deps, c.get("auth").userId, them);
      await contactsChanged(deps, c.get("auth").userId, them);
      return c.json(toContactBody(doc, await userOf(them)), 200);
    },
    deleteContact: async (c) => {
      const them = parseId(c.req.valid("param").user_id, "user_id");
      if (!(await removeContact(deps, c.get("auth").userId, them)))
        throw new AppError("NOT_FOUND", "Not in your contacts");
      await contactsChanged(deps, c.get("auth").userId, them);
      return c.body(null, 204);
    },
    updateContact: async (c) => {
      const them = parseId(c.req.valid("param").user_id, "user_id");
      const me = c.get("auth").userId;
      const doc = await renameContact(deps, me, them, c.req.valid("json").display_name);
      await contactsChanged(deps, me, them, me);
      return c.json(toContactBody(doc, await userOf(them)), 200);
    },
    listContacts: async (c) => {
      const q = c.req.valid("query");
      const me = c.get("auth").userId;
      const { docs, total } = await listContacts(deps, me, q, q.search ? await matching(me, q) : undefined);
      const users = await findUsers(
        deps,
        docs.map((d) => d.contact_id),
      );
      const contacts = docs.flatMap((d) => {
        const user = users.get(d.contact_id.toHexString());
        return user ? [toContactBody(d, user)] : [];
      });
      return c.json(
        {
          contacts,
          pagination: page(total, q.limit, q.offset),
        },
        200,
      );
    },
  };
}
