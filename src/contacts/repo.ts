import { ObjectId } from "mongodb";
import { hasBlocked } from "../blocks/repo.js";
import type { ContactDoc, UserDoc } from "../db/collections.js";
import { isDuplicateKey, parseId } from "../db/ids.js";
import type { Deps } from "../deps.js";
import { AppError } from "../shared/errors.js";

/*
 * A contact is two documents, one a direction. FerretDB gives no transactions and no atomic
 * conditional update, so whatever must happen once is an insert into the unique (owner_id,
 * contact_id) index or a delete; updates only ever set a value that is harmless to set twice, and
 * a half-written pair is repaired by whoever meets it next.
 */

const pair = (owner: ObjectId, contact: ObjectId) => ({ owner_id: owner, contact_id: contact });
const noRequest = () => new AppError("NOT_FOUND", "No contact request from this user");

function newDoc(owner: ObjectId, contact: ObjectId, status: ContactDoc["status"], now: Date): ContactDoc {
  return {
    _id: new ObjectId(),
    ...pair(owner, contact),
    status,
    display_name: null,
    created_at: now,
    updated_at: now,
  };
}

async function insertOrFind(deps: Deps, doc: ContactDoc): Promise<ContactDoc | null> {
  try {
    await deps.store.col.contacts.insertOne(doc);
    return null;
  } catch (err) {
    if (!isDuplicateKey(err)) throw err;
    const existing = await deps.store.col.contacts.findOne(pair(doc.owner_id, doc.contact_id));
    if (!existing) throw new AppError("CONFLICT", "The contact changed meanwhile; try again");
    return existing;
  }
}

/** Sends `me`'s request to `them`, or accepts theirs; the caller has checked `them` exists. */
export async function requestContact(
  deps: Deps,
  me: ObjectId,
  them: ObjectId,
  displayName: string | undefined,
): Promise<ContactDoc> {
  const { contacts } = deps.store.col;
  if (await hasBlocked(deps, them, me)) throw new AppError("USER_NOT_FOUND");
  if (await hasBlocked(deps, me, them)) {
    throw new AppError("INVALID_STATE", "You have blocked this user; unblock them first");
  }
  const now = deps.clock.now();
  const mine = { ...newDoc(me, them, "requested", now), display_name: displayName ?? null };
  const existing = await insertOrFind(deps, mine);
  if (existing?.status === "incoming") return acceptContact(deps, me, them, displayName);
  if (existing?.status === "accepted") throw new AppError("CONFLICT", "Already contacts");
  if (existing) {
    // Re-sending repairs a request whose other half never got written.
    await insertOrFind(deps, newDoc(them, me, "incoming", now));
    throw new AppError("CONFLICT", "Contact request already sent");
  }
  const theirs = await insertOrFind(deps, newDoc(them, me, "incoming", now));
  let result = mine;
  if (theirs?.status === "requested") {
    // Both asked at once: that is mutual consent.
    const set = { $set: { status: "accepted" as const, updated_at: now } };
    await contacts.updateOne({ _id: theirs._id }, set);
    await contacts.updateOne({ _id: mine._id }, set);
    result = { ...mine, status: "accepted", updated_at: now };
  } else if (theirs) {
    await contacts.updateOne({ _id: theirs._id }, { $set: { status: "incoming", updated_at: now } });
  }
  // A block made while the pair was being written must still win: the block deletes, then we look.
  if (await hasBlocked(deps, them, me)) {
    await contacts.deleteMany({ $or: [pair(me, them), pair(them, me)] });
    throw new AppError("USER_NOT_FOUND");
  }
  return result;
}

export async function acceptContact(
  deps: Deps,
  me: ObjectId,
  them: ObjectId,
  displayName?: string,
): Promise<ContactDoc> {
  const { contacts } = deps.store.col;
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
  const { contacts } = deps.store.col;
  if ((await contacts.deleteOne(pair(me, them))).deletedCount === 0) return false;
  await contacts.deleteOne(pair(them, me));
  return true;
}

export async function renameContact(deps: Deps, me: ObjectId, them: ObjectId, displayName: string | null) {
  const { contacts } = deps.store.col;
  const set = { display_name: displayName, updated_at: deps.clock.now() };
  const r = await contacts.updateOne(pair(me, them), { $set: set });
  const doc = r.matchedCount ? await contacts.findOne(pair(me, them)) : null;
  if (!doc) throw new AppError("NOT_FOUND", "Not in your contacts");
  return doc;
}

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

export interface ContactFilter {
  limit: number;
  offset: number;
  search?: string;
  status?: ContactDoc["status"];
}

/** One page of the caller's entries with their users; no $lookup, so users come in one $in query. */
export async function listContacts(deps: Deps, me: ObjectId, f: ContactFilter) {
  const { contacts, users } = deps.store.col;
  const base = { owner_id: me, ...(f.status ? { status: f.status } : {}) };
  let filter: Record<string, unknown> = base;
  if (f.search) {
    const needle = escapeRegex(f.search.toLowerCase());
    // The caller's entries are read once to match display names here and usernames on the user
    // documents; the page is then fetched by contact id, which the (owner_id, contact_id) index serves.
    const own = await contacts.find(base, { projection: { contact_id: 1, display_name: 1 } }).toArray();
    const named = await users
      .find(
        { _id: { $in: own.map((d) => d.contact_id) }, username_lower: { $regex: needle } },
        { projection: { _id: 1 } },
      )
      .toArray();
    const pattern = new RegExp(needle, "i");
    const matched = [
      ...own.filter((d) => d.display_name !== null && pattern.test(d.display_name)).map((d) => d.contact_id),
      ...named.map((u) => u._id),
    ];
    filter = { ...base, contact_id: { $in: matched } };
  }
  const total = await contacts.countDocuments(filter);
  const docs = await contacts
    .find(filter)
    .sort({ created_at: -1, _id: -1 })
    .skip(f.offset)
    .limit(f.limit)
    .toArray();
  const found = await users.find({ _id: { $in: docs.map((d) => d.contact_id) } }).toArray();
  const byId = new Map(found.map((u) => [u._id.toHexString(), u]));
  const entries = docs.flatMap((d) => {
    const user = byId.get(d.contact_id.toHexString());
    return user ? [{ doc: d, user }] : [];
  });
  return { entries, total };
}

type IdLike = ObjectId | string;
const toId = (id: IdLike, field: string) => (typeof id === "string" ? parseId(id, field) : id);

/**
 * Whether `sender` may start a conversation with or message `recipient`: never when the recipient
 * has blocked the sender; with `allow_messages_from: "contacts"` only accepted contacts may.
 */
export async function canMessage(deps: Deps, senderId: IdLike, recipientId: IdLike): Promise<boolean> {
  const sender = toId(senderId, "sender_id");
  const recipient = toId(recipientId, "recipient_id");
  const user: Pick<UserDoc, "privacy"> | null = await deps.store.col.users.findOne(
    { _id: recipient },
    { projection: { privacy: 1 } },
  );
  if (!user) return false;
  if (sender.equals(recipient)) return true;
  if (await hasBlocked(deps, recipient, sender)) return false;
  if ((user.privacy?.allow_messages_from ?? "everyone") === "everyone") return true;
  const contact = await deps.store.col.contacts.countDocuments(
    { ...pair(recipient, sender), status: "accepted" },
    { limit: 1 },
  );
  return contact > 0;
}
