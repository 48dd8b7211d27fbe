import { adminAudit } from "./admin/repo.js";
import { attachmentChunks } from "./attachments/chunks.js";
import { attachments } from "./attachments/repo.js";
import { otpSessions } from "./auth/otp-flow.js";
import { blocks } from "./blocks/repo.js";
import { contacts } from "./contacts/repo.js";
import { members } from "./conversations/members.js";
import { conversations } from "./conversations/repo.js";
import type { AnyOwned } from "./db/owned.js";
import { feed } from "./delivery/bus.js";
import { presence } from "./delivery/presence.js";
import { streamEntries, streamHeads } from "./delivery/repo.js";
import { accountKeys, keyResets } from "./devices/account-keys.js";
import { devices } from "./devices/repo.js";
import { invites } from "./invites/repo.js";
import { prekeys } from "./keys/repo.js";
import { counters } from "./limits/counters.js";
import { clientIds } from "./messages/client-ids.js";
import { messages } from "./messages/collection.js";
import { batches, erasures } from "./messages/erasures.js";
import { messageKeys } from "./messages/keys.js";
import { marks, receipts } from "./messages/receipts.js";
import { readinessProbes } from "./ops/repo.js";
import { pushSubscriptions, vapidKeys } from "./push/repo.js";
import { operations } from "./recovery/ops.js";
import { authSessions, usedRefresh } from "./sessions/repo.js";
import { users } from "./users/repo.js";

/**
 * Everything Hush stores, one entry a collection, each declared by its owning feature. Index
 * creation, the expiry job, the account-deletion and device-removal cascades and docs/storage.md
 * are derived from this list. Order is erasure order: what refers to something comes before it,
 * and the users collection comes last.
 */
export const inventory: readonly AnyOwned[] = [
  // An account's uploads (and their chunks) go first: nothing refers to them but messages.
  attachments,
  attachmentChunks,
  // Keys, receipts and marks go before the account leaves its conversations, and the
  // conversations' own collections before devices: leaving tells the other members' devices.
  messageKeys,
  receipts,
  marks,
  clientIds,
  erasures,
  batches,
  operations,
  messages,
  members,
  conversations,
  usedRefresh,
  authSessions,
  // After the sessions: its erasure closes the sockets those sessions had open.
  presence,
  pushSubscriptions,
  vapidKeys,
  feed,
  streamEntries,
  streamHeads,
  otpSessions,
  invites,
  adminAudit,
  prekeys,
  keyResets,
  devices,
  accountKeys,
  contacts,
  blocks,
  counters,
  readinessProbes,
  users,
];
