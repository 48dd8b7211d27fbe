import type { CreateIndexesOptions, Db, IndexSpecification, ObjectId } from "mongodb";

/** The whole stored data model: what Hush keeps, one document type a collection. */
export interface Privacy {
  discoverable_by_email: boolean;
  discoverable_by_username: boolean;
  show_online_status: boolean;
  read_receipts: boolean;
  allow_messages_from: "everyone" | "contacts";
}
export interface Profile {
  full_name: string;
  mobile: string | null;
  address: string | null;
  date_of_birth: string | null;
  gender: "male" | "female" | "non_binary" | "other" | "prefer_not_to_say" | null;
  bio: string | null;
  avatar_url: string | null;
}
export interface UserDoc {
  _id: ObjectId;
  email: string;
  username: string;
  username_lower: string;
  public_key: string | null;
  profile: Profile;
  privacy: Privacy;
  status: "active";
  created_at: Date;
  last_seen_at: Date;
}
export interface SignedKey {
  key_id: number;
  public_key: string;
  signature: string;
}
export interface DeviceDoc {
  _id: ObjectId;
  user_id: ObjectId;
  device_id: string;
  device_name: string;
  identity_key: string;
  key_type: "ed25519" | "curve25519";
  registration_id: number | null;
  signed_prekey: SignedKey | null;
  kem_last_resort_prekey: SignedKey | null;
  created_at: Date;
  last_seen_at: Date;
}
export interface PrekeyDoc {
  _id: ObjectId;
  user_id: ObjectId;
  device_id: string;
  kind: "ec" | "kem";
  key_id: number;
  public_key: string;
  signature: string | null;
  created_at: Date;
}
export interface OtpSessionDoc {
  _id: ObjectId;
  email: string;
  purpose: "signup" | "login";
  /** Keyed hash of the code; the code itself is never stored. */
  code_hash: string;
  created_at: Date;
  expires_at: Date;
  verified_at: Date | null;
}
export interface AuthSessionDoc {
  _id: ObjectId;
  user_id: ObjectId;
  device_id: string;
  refresh_hash: string;
  created_at: Date;
  last_used_at: Date;
  expires_at: Date;
}
/** Hashes of rotated-out refresh tokens, kept only to spot reuse until the session would have ended. */
export interface UsedRefreshDoc {
  _id: string;
  session_id: ObjectId;
  expires_at: Date;
}
/**
 * One document a claimed slot: rate-limit hits, OTP attempts and single-use markers. Inserts into a
 * unique _id are the one write both stores make atomic (FerretDB v1 loses concurrent $inc updates).
 */
export interface SlotDoc {
  _id: string;
  key: string;
  expires_at: Date;
}
export interface ContactDoc {
  _id: ObjectId;
  owner_id: ObjectId;
  contact_id: ObjectId;
  status: "requested" | "incoming" | "accepted";
  display_name: string | null;
  created_at: Date;
  updated_at: Date;
}
export interface BlockDoc {
  _id: ObjectId;
  blocker_id: ObjectId;
  blocked_id: ObjectId;
  created_at: Date;
}

export const collectionsOf = (db: Db) => ({
  users: db.collection<UserDoc>("users"),
  devices: db.collection<DeviceDoc>("devices"),
  prekeys: db.collection<PrekeyDoc>("prekeys"),
  otpSessions: db.collection<OtpSessionDoc>("otp_sessions"),
  authSessions: db.collection<AuthSessionDoc>("auth_sessions"),
  usedRefresh: db.collection<UsedRefreshDoc>("used_refresh_tokens"),
  slots: db.collection<SlotDoc>("slots"),
  contacts: db.collection<ContactDoc>("contacts"),
  blocks: db.collection<BlockDoc>("blocks"),
});
export type Collections = ReturnType<typeof collectionsOf>;

/** Documents with an `expires_at` that the sweeper job (and TTL indexes, where present) erase. */
export const expiringCollections = ["otp_sessions", "auth_sessions", "used_refresh_tokens", "slots"];

const unique = { unique: true };
export const indexes: { collection: string; key: IndexSpecification; options?: CreateIndexesOptions }[] = [
  { collection: "users", key: { email: 1 }, options: unique },
  { collection: "users", key: { username_lower: 1 }, options: unique },
  { collection: "devices", key: { user_id: 1, device_id: 1 }, options: unique },
  { collection: "devices", key: { user_id: 1, created_at: 1 } },
  { collection: "prekeys", key: { user_id: 1, device_id: 1, kind: 1, key_id: 1 }, options: unique },
  { collection: "otp_sessions", key: { email: 1, purpose: 1 } },
  { collection: "auth_sessions", key: { refresh_hash: 1 }, options: unique },
  { collection: "auth_sessions", key: { user_id: 1, device_id: 1 } },
  { collection: "auth_sessions", key: { user_id: 1, created_at: 1, expires_at: 1 } },
  { collection: "used_refresh_tokens", key: { session_id: 1 } },
  { collection: "slots", key: { key: 1 } },
  { collection: "contacts", key: { owner_id: 1, contact_id: 1 }, options: unique },
  { collection: "contacts", key: { contact_id: 1 } },
  { collection: "contacts", key: { owner_id: 1, created_at: -1, _id: -1 } },
  { collection: "contacts", key: { owner_id: 1, status: 1, created_at: -1, _id: -1 } },
  { collection: "blocks", key: { blocker_id: 1, blocked_id: 1 }, options: unique },
  { collection: "blocks", key: { blocked_id: 1 } },
  { collection: "blocks", key: { blocker_id: 1, created_at: -1, _id: -1 } },
];
