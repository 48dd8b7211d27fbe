import type { ObjectId } from "mongodb";
import { isDuplicateKey, newId } from "../db/ids.js";
import { never, owned } from "../db/owned.js";
import type { Deps } from "../deps.js";
import { AppError } from "../http/errors.js";

export interface ContactDoc {
  _id: ObjectId;
  owner_id: ObjectId;
  contact_id: ObjectId;
  status: "requested" | "incoming" | "accepted";
  display_name: string | null;
  created_at: Date;
  updated_at: Date;
}
export const contacts = owned<ContactDoc>({
  name: "contacts",
  owner: "contacts",
  holds: "one direction of a contact or contact request, with the owner's display name for it",
  indexes: [
    { key: { owner_id: 1, contact_id: 1 }, options: { unique: true } },
    { key: { owner_id: 1, created_at: -1, _id: -1 } },
    { key: { owner_id: 1, status: 1, created_at: -1, _id: -1 } },
    { key: { contact_id: 1 } },
  ],
  ...never,
  onAccountDeletion: "erased, both directions",
  eraseAccount: (col, a) => col.deleteMany({ $or: [{ owner_id: a._id }, { contact_id: a._id }] }),
});
const col = (deps: Deps) => contacts.col(deps.store.db);

/*
 * A contact is two documents, one a direction. There are no multi-document transactions (the local
 * store has none), so each pair is written in an order that a failure half way leaves repairable:
 * whatever must happen once is an insert into the unique (owner_id, contact_id) index, a delete or a
 * conditional update, and a half-written pair is repaired by whoever meets it next.
 */

const pair = (owner: ObjectId, contact: ObjectId) => ({ owner_id: owner, contact_id: contact });
const noRequest = () => new AppError("NOT_FOUND", "No contact request from this user");

function newDoc(owner: ObjectId, contact: ObjectId, status: ContactDoc["status"], now: Date): ContactDoc {
  return {
    _id: newId(),
    ...pair(owner, contact),
    status,
    display_name: null,
    created_at: now,
    updated_at: now,
  };
}

async function insertOrFind(deps: Deps, doc: ContactDoc): Promise<ContactDoc | null> {
  try {
    await col(deps).insertOne(doc);
    return null;
  } catch (err) {
    if (!isDuplicateKey(err)) throw err;
    const existing = await col(deps).findOne(pair(doc.owner_id, doc.contact_id));
    if (!existing) throw new AppError("CONFLICT", "The contact changed meanwhile; try again");
    return existing;
  }
}

/**
 * Sends `me`'s request to `them`, or accepts theirs. The caller has checked the policy allows it,
 * and asks again once this returns (a block made meanwhile must win: src/contacts/handlers.ts).
 */
export async function requestContact(
  deps: Deps,
  me: ObjectId,
  them: ObjectId,
  displayName: string | undefined,
): Promise<ContactDoc> {
  const contacts = col(deps);
  const now = deps.clock.now();
  const mine = { ...newDoc(me, them, "requested", now), display_name: displayName ?? null };
  const existing = await insertOrFind(deps, mine);
  await deps.checkpoint?.("contact-request:mine");
  if (existing?.status === "incoming") return acceptContact(deps, me, them, displayName);
  if (existing?.status === "accepted") throw new AppError("CONFLICT", "Already contacts");
  if (existing) {
    // Re-sending repairs a request whose other half never got written.
    await insertOrFind(deps, newDoc(them, me, "incoming", now));
    throw new AppError("CONFLICT", "Contact request already sent");
  }
  const theirs = await insertOrFind(deps, newDoc(them, me, "incoming", now));
  let result = mine;
  if (theirs?.status === "requested" || theirs?.status === "accepted") {
    // Both asked at once: that is mutual consent. Theirs is already accepted when the other request
    // got here first and accepted both halves; ours must not turn it back into a request.
    const set = { $set: { status: "accepted" as const, updated_at: now } };
    await contacts.updateOne({ _id: theirs._id }, set);
    await contacts.updateOne({ _id: mine._id }, set);
    result = { ...mine, status: "accepted", updated_at: now };
  } else if (theirs) {
    await contacts.updateOne({ _id: theirs._id }, { $set: { status: "incoming", updated_at: now } });
  }
  return result;
}

export async function acceptContact(
  deps: Deps,
  me: ObjectId,
  them: ObjectId,
  displayName?: string,
): Promise<ContactDoc> {
  const contacts = col(deps);
  const mine = await contacts.findOne(pair(me, them));
  if (!mine) throw noRequest();
  if (mine.status === "requested") throw new AppError("INVALID_STATE", "You cannot accept your own request");
  if (mine.status === "accepted") throw new AppError("INVALID_STATE", "Already contacts");
  const now = deps.clock.now();
  const accepted = { status: "accepted" as const, updated_at: now };
  // Their half goes first: if it is gone, the request was withdrawn and ours is a leftover.
  const theirs = await contacts.updateOne(
    { ...pair(them, me), status: { $in: ["requested", "accepted"] } },
    { $set: accepted },
  );
  if (theirs.matchedCount === 0) {
    await contacts.deleteOne({ _id: mine._id, status: "incoming" });
    throw noRequest();
  }
  const name = displayName === undefined ? {} : { display_name: displayName };
  const ours = await contacts.updateOne({ _id: mine._id }, { $set: { ...accepted, ...name } });
  if (ours.matchedCount === 0) throw noRequest();
  return { ...mine, ...accepted, ...name };
}

/** Removes the caller's entry and the other side's; false when the caller had none. */
export async function removeContact(deps: Deps, me: ObjectId, them: ObjectId): Promise<boolean> {
  const contacts = col(deps);
  if ((await contacts.deleteOne(pair(me, them))).deletedCount === 0) return false;
  await contacts.deleteOne(pair(them, me));
  return true;
}

export async function renameContact(deps: Deps, me: ObjectId, them: ObjectId, displayName: string | null) {
  const contacts = col(deps);
  const set = { display_name: displayName, updated_at: deps.clock.now() };
  const r = await contacts.updateOne(pair(me, them), { $set: set });
  const doc = r.matchedCount ? await contacts.findOne(pair(me, them)) : null;
  if (!doc) throw new AppError("NOT_FOUND", "Not in your contacts");
  return doc;
}

export interface ContactFilter {
  limit: number;
  offset: number;
  search?: string;
  status?: ContactDoc["status"];
}

/** The caller's entries (with that status, if given): who, and the name the caller gave them. */
export const contactNames = (deps: Deps, me: ObjectId, status?: ContactDoc["status"]) =>
  col(deps)
    .find({ owner_id: me, ...(status ? { status } : {}) })
    .project<Pick<ContactDoc, "contact_id" | "display_name">>({ contact_id: 1, display_name: 1 })
    .toArray();

/** Drops both directions between two users (a block ends any contact or request); true when any existed. */
export const removePair = async (deps: Deps, a: ObjectId, b: ObjectId) =>
  (await col(deps).deleteMany({ $or: [pair(a, b), pair(b, a)] })).deletedCount > 0;

/** Both directions between two users as stored now (null where there is none). */
export async function pairState(deps: Deps, a: ObjectId, b: ObjectId) {
  const [ab, ba] = await Promise.all([col(deps).findOne(pair(a, b)), col(deps).findOne(pair(b, a))]);
  return { ab, ba };
}

/** Which of `ids` are `me`'s accepted contacts, as hex ids; one query on (owner_id, contact_id). */
export async function acceptedAmong(deps: Deps, me: ObjectId, ids: ObjectId[]): Promise<Set<string>> {
  const found = await col(deps)
    .find({ owner_id: me, contact_id: { $in: ids }, status: "accepted" }, { projection: { contact_id: 1 } })
    .toArray();
  return new Set(found.map((c) => c.contact_id.toHexString()));
}

export const areContacts = async (deps: Deps, a: ObjectId, b: ObjectId) =>
  (await col(deps).countDocuments({ ...pair(a, b), status: "accepted" }, { limit: 1 })) > 0;

/**
 * One page of the caller's entries, newest first. A search arrives as the contact ids it matched
 * (display names and usernames are matched by the caller), so the page is fetched by contact id,
 * which the (owner_id, contact_id) index serves.
 */
export async function listContacts(deps: Deps, me: ObjectId, f: ContactFilter, matched?: ObjectId[]) {
  const contacts = col(deps);
  const base = { owner_id: me, ...(f.status ? { status: f.status } : {}) };
  const filter = matched ? { ...base, contact_id: { $in: matched } } : base;
  const total = await contacts.countDocuments(filter);
  const docs = await contacts
    .find(filter)
    .sort({ created_at: -1, _id: -1 })
    .skip(f.offset)
    .limit(f.limit)
    .toArray();
  return { docs, total };
}
