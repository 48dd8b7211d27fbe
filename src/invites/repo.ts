import type { ObjectId } from "mongodb";
import { newId } from "../db/ids.js";
import { owned } from "../db/owned.js";
import type { Deps } from "../deps.js";
import { randomToken, sha256 } from "../lib/random.js";

export interface InviteDoc {
  _id: ObjectId;
  /** SHA-256 of the code: the code is shown once, at creation, and never stored. */
  code_hash: string;
  /** Sign-ups the code still admits; spent at complete-signup. */
  uses_left: number;
  uses: number;
  created_at: Date;
  /** Null for an invite that does not expire. */
  expires_at: Date | null;
  revoked_at: Date | null;
}
export const invites = owned<InviteDoc>({
  name: "invites",
  owner: "invites",
  holds:
    "an invite code for sign-up in REGISTRATION=invite mode: the SHA-256 of the code (never the code), uses granted and left, expiry, revocation; not who used it",
  indexes: [{ key: { code_hash: 1 }, options: { unique: true } }],
  expires: true,
  onExpiry: "erased once its expiry passes (an invite without one stays until revoked and pruned)",
  onAccountDeletion: "nothing: an invite names no account",
  eraseAccount: async () => {},
});
const col = (deps: Deps) => invites.col(deps.store.db);

/** 128 random bits: guessing one among any number of live codes is hopeless (docs/abuse.md). */
export const newInviteCode = () => `hush-${randomToken(16)}`;
export const inviteHash = (code: string) => sha256(code);

export async function createInvite(deps: Deps, o: { uses: number; expiresAt: Date | null }) {
  const code = newInviteCode();
  const doc: InviteDoc = {
    _id: newId(),
    code_hash: inviteHash(code),
    uses_left: o.uses,
    uses: o.uses,
    created_at: deps.clock.now(),
    expires_at: o.expiresAt,
    revoked_at: null,
  };
  await col(deps).insertOne(doc);
  return { code, invite: doc };
}

/** The first `limit` invites in creation order (ids grow with time), from `after` on. */
export const listInvites = (deps: Deps, limit: number) =>
  col(deps).find({}).sort({ _id: 1 }).limit(limit).toArray();

export async function revokeInvite(deps: Deps, id: ObjectId) {
  const { matchedCount } = await col(deps).updateOne(
    { _id: id, revoked_at: null },
    { $set: { revoked_at: deps.clock.now(), uses_left: 0 } },
  );
  return matchedCount === 1;
}

const usable = (now: Date) => ({
  uses_left: { $gt: 0 },
  revoked_at: null,
  $or: [{ expires_at: null }, { expires_at: { $gt: now } }],
});

/** The live invite a code names, or null: unknown, used up, revoked and expired look the same. */
export async function findUsableInvite(deps: Deps, code: string) {
  const found = await col(deps).findOne({ code_hash: inviteHash(code) });
  const now = deps.clock.now();
  if (!found || found.revoked_at || found.uses_left <= 0) return null;
  return found.expires_at && found.expires_at <= now ? null : found;
}

/** Takes one use, atomically: of two sign-ups racing for a last use, one wins. */
export async function spendInvite(deps: Deps, id: ObjectId) {
  const { modifiedCount } = await col(deps).updateOne(
    { _id: id, ...usable(deps.clock.now()) },
    { $inc: { uses_left: -1 } },
  );
  return modifiedCount === 1;
}

/** Gives a use back when the sign-up that took it could not finish. */
export const giveBackInvite = (deps: Deps, id: ObjectId) =>
  col(deps).updateOne({ _id: id }, { $inc: { uses_left: 1 } });
