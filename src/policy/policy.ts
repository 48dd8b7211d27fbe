import type { ObjectId } from "mongodb";
import { blockedAmong, blockedBetween, blockersOf, hasBlocked } from "../blocks/repo.js";
import { acceptedAmong, areContacts, contactNames } from "../contacts/repo.js";
import type { Deps } from "../deps.js";
import { AppError } from "../http/errors.js";
import { together } from "../lib/together.js";

/*
 * Who may see whom and who may message whom: the one place these rules live. Every route (and,
 * next, every socket event) asks here rather than reading blocks or privacy settings itself.
 */

/** Someone who blocked the viewer looks to them exactly like an account that does not exist. */
export async function canSee(deps: Deps, viewer: ObjectId, target: ObjectId): Promise<boolean> {
  return viewer.equals(target) || !(await hasBlocked(deps, target, viewer));
}

/** The target as the viewer may know it: one USER_NOT_FOUND for unknown and for blocked-by. */
export async function visibleTo<T extends { _id: ObjectId }>(
  deps: Deps,
  viewer: ObjectId,
  target: T | null,
): Promise<T> {
  if (!target || !(await canSee(deps, viewer, target._id))) throw new AppError("USER_NOT_FOUND");
  return target;
}

/** The part of a user the messaging rule reads. */
export interface Recipient {
  _id: ObjectId;
  privacy: { allow_messages_from: "everyone" | "contacts" };
}

/**
 * The messaging rule's answer: "absent" when the recipient blocked the sender (they look like no
 * account at all), "blocking" when the sender blocked the recipient (whom the sender's messages
 * must not reach while the blocked side cannot see them), "contacts_only" when the recipient takes
 * messages from contacts only and the sender is not one.
 */
type MessageVerdict = "yes" | "absent" | "blocking" | "contacts_only";

/** Whether `sender` may start a conversation with, or message, `recipient`. */
export const canMessage = async (deps: Deps, sender: ObjectId, recipient: Recipient): Promise<boolean> =>
  (await messageRule(deps, sender, recipient, blocksBetween(deps, sender, recipient._id))) === "yes";

/** Both directions of a block between a sender and a recipient, read at once. */
function blocksBetween(deps: Deps, sender: ObjectId, recipient: ObjectId) {
  if (sender.equals(recipient)) return Promise.resolve({ theirs: false, mine: false });
  return Promise.all([hasBlocked(deps, recipient, sender), hasBlocked(deps, sender, recipient)]).then(
    ([theirs, mine]) => ({ theirs, mine }),
  );
}

async function messageRule(
  deps: Deps,
  sender: ObjectId,
  recipient: Recipient,
  blocks: Promise<{ theirs: boolean; mine: boolean }>,
): Promise<MessageVerdict> {
  if (sender.equals(recipient._id)) return "yes";
  const { theirs, mine } = await blocks;
  if (theirs) return "absent";
  if (mine) return "blocking";
  if (recipient.privacy.allow_messages_from === "everyone") return "yes";
  return (await areContacts(deps, recipient._id, sender)) ? "yes" : "contacts_only";
}

const blocking = () => new AppError("INVALID_STATE", "You have blocked this user; unblock them first");

/**
 * Starting a 1:1 conversation with, or adding to a group, someone who may not be messaged: one
 * who blocked the caller looks absent (USER_NOT_FOUND, as everywhere), one the caller blocked is
 * INVALID_STATE (unblock first), a contacts-only account refuses with FORBIDDEN. `field` names the
 * request field in the error.
 */
export async function assertMayMessage(deps: Deps, sender: ObjectId, recipient: Recipient, field: string) {
  const verdict = await messageRule(deps, sender, recipient, blocksBetween(deps, sender, recipient._id));
  if (verdict === "yes") return;
  if (verdict === "absent") throw new AppError("USER_NOT_FOUND", undefined, { [field]: "user not found" });
  if (verdict === "blocking") throw blocking();
  throw new AppError("FORBIDDEN", "This user accepts messages from contacts only", {
    [field]: "accepts messages from contacts only",
  });
}

/** Adding someone to a group is messaging them: the same rule as starting a 1:1 conversation. */
export const assertMayAddToGroup = assertMayMessage;

/**
 * Whether `sender` may post in a conversation they are a member of. In a 1:1 conversation the
 * other person's rule applies to every message, so a block or a contacts-only setting made after
 * the conversation began still holds: someone who blocked the sender looks like a deleted account
 * ("gone"), and a sender who blocked the other is refused (INVALID_STATE, unblock first). In a
 * group, membership is enough: a block between two members does not silence either of them for
 * everyone else. `other` is the other member of a 1:1 (null when none is left) with their account
 * as it is being read.
 */
export async function maySendIn(
  deps: Deps,
  sender: ObjectId,
  kind: "one_to_one" | "group",
  other: { id: ObjectId; account: Promise<Recipient | null> } | null,
): Promise<"yes" | "no" | "gone"> {
  if (kind === "group") return "yes";
  if (!other) return "gone";
  // The block checks need only the other person's id: they run while their account is read (a send
  // waits for one round trip, not two). Their answer counts only if the account still exists.
  const blocks = blocksBetween(deps, sender, other.id);
  const [recipient] = await Promise.all([other.account, blocks]);
  if (!recipient) return "gone";
  const verdict = await messageRule(deps, sender, recipient, blocks);
  if (verdict === "blocking") throw blocking();
  return verdict === "yes" ? "yes" : verdict === "absent" ? "gone" : "no";
}

/**
 * Anything a member does in a conversation that reaches the other person's devices (an edit, the
 * timer) is held to the send rule, refused as a send is: in a 1:1, by someone the other person
 * blocked (as if the other had deleted their account), or who blocked the other, or whom a
 * contacts-only setting shuts out.
 */
export async function assertMayActIn(
  deps: Deps,
  actor: ObjectId,
  kind: "one_to_one" | "group",
  other: { id: ObjectId; account: Promise<Recipient | null> } | null,
) {
  const verdict = await maySendIn(deps, actor, kind, other);
  if (verdict === "gone") throw new AppError("INVALID_STATE", "The other person deleted their account");
  if (verdict === "no") throw new AppError("FORBIDDEN", "This user does not accept your messages");
}

/**
 * Who among `ids` looks absent to `viewer` in a conversation of this kind. In a 1:1, someone who
 * blocked the viewer looks like a deleted account: no participant entry, no devices, no sender on
 * their messages, and actions refused as for a deleted account. In a group they stay a member (the
 * documented exception): the group's other members see both, and both still encrypt to each other.
 */
export async function absentTo(
  deps: Deps,
  viewer: ObjectId,
  kind: "one_to_one" | "group",
  ids: ObjectId[],
): Promise<Set<string>> {
  const others = ids.filter((id) => !id.equals(viewer));
  if (kind !== "one_to_one" || !others.length) return new Set();
  return blockersOf(deps, viewer, others);
}

/** Nobody adds, blocks or unblocks themselves: VALIDATION_ERROR on `user_id`. */
export function notSelf(me: ObjectId, them: ObjectId, what: string) {
  if (me.equals(them)) {
    throw new AppError("VALIDATION_ERROR", `You cannot ${what} yourself`, { user_id: "cannot be yourself" });
  }
}

/** Whether `me` may ask `them` to be a contact: they must see each other, and `me` not block them. */
export async function assertMayRequestContact(deps: Deps, me: ObjectId, them: ObjectId) {
  if (!(await canSee(deps, me, them))) throw new AppError("USER_NOT_FOUND");
  if (await hasBlocked(deps, me, them)) {
    throw new AppError("INVALID_STATE", "You have blocked this user; unblock them first");
  }
}

/**
 * Who hears, if the user shares it, of their presence: their accepted contacts, less anyone on
 * either side of a block. (Not their conversations' other members: a group can hold strangers.)
 */
export async function contactAudience(deps: Deps, userId: ObjectId): Promise<ObjectId[]> {
  const contacts = (await contactNames(deps, userId, "accepted")).map((c) => c.contact_id);
  const blocked = await blockedBetween(deps, userId, contacts);
  return contacts.filter((c) => !blocked.has(c.toHexString()));
}

/** The part of a user the presence rules read. */
export interface PresenceSubject {
  _id: ObjectId;
  privacy: { show_online_status: boolean };
}

/** Who is told live when a user comes online or goes offline: nobody unless they share it. */
export async function presenceAudience(deps: Deps, user: PresenceSubject): Promise<ObjectId[]> {
  return user.privacy.show_online_status ? contactAudience(deps, user._id) : [];
}

/**
 * Who is told a user's device has a new identity key: whoever encrypts to it, i.e. their contacts
 * and the members of their conversations (`coMembers`), less anyone the user blocked: to them the
 * user looks absent (a deleted account changes no keys). In a group the two share, the blocked
 * member learns of the new device when a send names the old list (DEVICE_MISMATCH) and re-reads it.
 */
export async function identityAudience(deps: Deps, userId: ObjectId, coMembers: ObjectId[]) {
  const [contacts, blocked] = await Promise.all([
    contactAudience(deps, userId),
    blockedAmong(deps, userId, coMembers),
  ]);
  const all = new Map(
    [...contacts, ...coMembers.filter((m) => !blocked.has(m.toHexString()))].map((u) => [u.toHexString(), u]),
  );
  return [...all.values()];
}

/**
 * Whose presence (online, last seen) `viewer` may see among `targets`, as hex ids: the one rule for
 * every place it shows (a profile, a conversation's participants, `user_status` through
 * presenceAudience). Their own, always; anyone else's only if they share it and the two are
 * accepted contacts with no block either way. Not a stranger's, not a co-member's: a group can hold
 * strangers, and "when is this person on?" is what a stalker asks.
 */
export async function presenceVisibleAmong(
  deps: Deps,
  viewer: ObjectId,
  targets: PresenceSubject[],
): Promise<Set<string>> {
  const others = targets
    .filter((t) => !t._id.equals(viewer) && t.privacy.show_online_status)
    .map((t) => t._id);
  const contacts = others.length ? await acceptedAmong(deps, viewer, others) : new Set<string>();
  // A block ends a contact, so this finds one only where a block raced an acceptance: for a
  // stranger it is never asked.
  const candidates = others.filter((id) => contacts.has(id.toHexString()));
  const blocked = await blockedBetween(deps, viewer, candidates);
  return new Set(
    targets
      .filter((t) =>
        presenceShown(viewer, t, contacts.has(t._id.toHexString()), blocked.has(t._id.toHexString())),
      )
      .map((t) => t._id.toHexString()),
  );
}

/** presenceVisibleAmong's rule for one target, from what was read about the two. */
const presenceShown = (viewer: ObjectId, t: PresenceSubject, contact: boolean, blocked: boolean) =>
  t._id.equals(viewer) || (t.privacy.show_online_status && contact && !blocked);

/**
 * What `viewer` may see of the people of several conversations at once (the conversation list):
 * who looks absent in a 1:1 (absentTo's rule) and whose presence they see (presenceVisibleAmong's),
 * decided from the same facts read in one wait rather than one after another. Reads the contacts
 * and blocks of every one of `ids`, not only those who share their presence: the list's page
 * bounds them.
 */
export async function viewOfPeople(deps: Deps, viewer: ObjectId, ids: ObjectId[]) {
  const others = ids.filter((id) => !id.equals(viewer));
  const [contacts, blocked, blockers] = await together(
    others.length ? acceptedAmong(deps, viewer, others) : new Set<string>(),
    blockedAmong(deps, viewer, others),
    blockersOf(deps, viewer, others),
  );
  return {
    absent: (kind: "one_to_one" | "group", id: ObjectId) =>
      kind === "one_to_one" && blockers.has(id.toHexString()),
    presence: (t: PresenceSubject) => {
      const id = t._id.toHexString();
      return presenceShown(viewer, t, contacts.has(id), blocked.has(id) || blockers.has(id));
    },
  };
}

/** Whether `viewer` may see `target`'s online status and last seen (presenceVisibleAmong, for one). */
export const maySeePresence = async (deps: Deps, viewer: ObjectId, target: PresenceSubject) =>
  (await presenceVisibleAmong(deps, viewer, [target])).has(target._id.toHexString());

/** Presence's grain for others: last seen to 5 minutes, so two people's comings and goings cannot be matched. */
export const LAST_SEEN_GRAIN_MS = 5 * 60_000;
/** Last seen as anyone but the user sees it. */
export const coarseLastSeen = (at: Date) => new Date(at.getTime() - (at.getTime() % LAST_SEEN_GRAIN_MS));

/** Which of a conversation's other members see `typer` typing: none on either side of a block. */
export async function typingAudience(deps: Deps, typer: ObjectId, members: ObjectId[]): Promise<ObjectId[]> {
  const blocked = await blockedBetween(deps, typer, members);
  return members.filter((m) => !blocked.has(m.toHexString()));
}
