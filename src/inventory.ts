import { attachmentChunks } from "./attachments/chunks.js";
import { attachments } from "./attachments/repo.js";
import { otpSessions } from "./auth/otp-flow.js";
import type { AnyOwned } from "./db/owned.js";
import { devices } from "./devices/repo.js";
import { prekeys } from "./keys/repo.js";
import { slots } from "./limits/slots.js";
import { blocks } from "./relations/blocks.js";
import { contacts } from "./relations/contacts.js";
import { authSessions, usedRefresh } from "./sessions/repo.js";
import { users } from "./users/repo.js";

/**
 * Everything Hush stores, one entry a collection, each declared by its owning feature. Index
 * creation, the expiry job, the account-deletion and device-removal cascades and docs/storage.md
 * are derived from this list. Order is erasure order: what refers to something comes before it,
 * and the users collection comes last.
 */
export const inventory: readonly AnyOwned[] = [
  attachments,
  attachmentChunks,
  usedRefresh,
  authSessions,
  otpSessions,
  prekeys,
  devices,
  contacts,
  blocks,
  slots,
  users,
];
