import type { ObjectId } from "mongodb";
import { eraseForMessages } from "../attachments/owners.js";
import { type Change, devicesOf, eraseCopies, recordChanges } from "../changes/record.js";
import { uncountErased } from "../conversations/counters.js";
import { type MemberDoc, membersOf } from "../conversations/members.js";
import { findConversation, forgetMessages, type LastMessage, setLastPreview } from "../conversations/repo.js";
import { newId } from "../db/ids.js";
import type { Deps } from "../deps.js";
import { redactHidden } from "../stream/repo.js";
import { claimErasures } from "./erasures.js";
import { eraseKeysOf, eraseMessageKeys } from "./keys.js";
import { claimMarks, eraseMarksOf, eraseReceiptsOf, type MarkDoc, marksOf } from "./receipts.js";
import {
  clearViewOnceCap,
  deleteMessages,
  expiredMessages,
  isExpired,
  type MessageDoc,
  messageRange,
  tombstone,
  viewOnceDue,
} from "./repo.js";

/**
 * How long the run that took a message is given to finish with it before another run erases what
 * is left of it (the first run died, or stalls).
 */
export const LEASE_MS = 60_000;

/**
 * Test hooks: awaited between a batch's steps, so that a test can run another process's job
 * there (the interleavings of test/integration/expiry-jobs.test.ts). Production passes none.
 */
export interface ExpiryPauses {
  /** After the batch is read, before it is claimed. */
  beforeClaim?: () => Promise<void>;
  /** After the claim, before anything is counted or erased. */
  afterClaim?: () => Promise<void>;
}

/**
 * Erases every message past its `expires_at` (disappearing messages, tombstones past their
 * retention), in batches of EXPIRY_BATCH, and empties their copies in every stream.
 *
 * Each message's counters and its `message_expired` are the business of exactly one run: the one
 * whose insert of the message's id into `message_erasures` went in (claimErasures: the unique
 * `_id` decides, on both stores). Any other run, on any process, that meets the message after
 * LEASE_MS only erases what is left of it (idempotent deletes), and never counts or announces it;
 * before that it leaves it alone. So a run that stalls past its lease while another takes the
 * batch over still has each counter adjusted once. The work follows what expired: one indexed
 * range read on `expires_at` a batch, the rest by `_id` or over the batch's ids.
 */
export async function expireMessages(deps: Deps, now: Date, pauses: ExpiryPauses = {}): Promise<number> {
  const batch = deps.config.EXPIRY_BATCH;
  let erased = 0;
  let touched = false;
  for (;;) {
    const found = await expiredMessages(deps, now, batch);
    if (!found.length) break;
    // Read before the claim: once a claim lapses another run erases the marks, and this run, if it
    // won, must still count with them.
    const marks = await marksOf(
      deps,
      found.map((m) => m._id),
    );
    await pauses.beforeClaim?.();
    const { won, lapsed } = await claimErasures(
      deps,
      found.map((m) => m._id),
      LEASE_MS,
    );
    await pauses.afterClaim?.();
    const ours = new Set(won.map((id) => id.toHexString()));
    const mine = (id: ObjectId) => ours.has(id.toHexString());
    if (won.length) {
      const list = found.filter((m) => mine(m._id));
      await eraseBatch(
        deps,
        list,
        marks.filter((m) => mine(m.message_id)),
        now,
      );
    }
    if (lapsed.length) await eraseRemains(deps, lapsed);
    erased += won.length;
    touched ||= won.length + lapsed.length > 0;
    // Nothing taken: what is left is another run's, within its lease.
    if (found.length < batch || !(won.length + lapsed.length)) break;
  }
  // The copies, edits and receipts of what expired, in every stream, in one write.
  if (touched) await redactHidden(deps, now);
  return erased;
}

/** The physical part, idempotent: whatever the messages still have, and the messages. */
async function eraseRemains(deps: Deps, ids: ObjectId[]) {
  await eraseForMessages(deps, ids); // the blobs these messages carried
  await eraseKeysOf(deps, ids);
  await eraseReceiptsOf(deps, ids);
  await eraseMarksOf(deps, ids);
  await deleteMessages(deps, ids);
}

/** Messages this run won: counted out, erased, their conversations fixed, announced. */
async function eraseBatch(deps: Deps, won: MessageDoc[], marks: MarkDoc[], now: Date) {
  const byConversation = new Map<string, MessageDoc[]>();
  for (const m of won) {
    const k = m.conversation_id.toHexString();
    byConversation.set(k, [...(byConversation.get(k) ?? []), m]);
  }
  const ids = won.map((m) => m._id);
  const audiences = new Map<string, MemberDoc[]>();
  for (const [k, list] of byConversation) {
    const members = await membersOf(deps, list[0]!.conversation_id);
    audiences.set(k, members);
    await uncount(deps, list, members, marks);
  }
  await eraseRemains(deps, ids);
  const changes: Change[] = [];
  for (const [k, list] of byConversation) {
    const conversationId = list[0]!.conversation_id;
    await fixConversation(deps, conversationId, list, now);
    const targets = await devicesOf(
      deps,
      (audiences.get(k) ?? []).map((m) => m.user_id),
    );
    for (const m of list) {
      changes.push({ type: "message_expired", conversation_id: conversationId, message_id: m._id, targets });
    }
  }
  await recordChanges(deps, changes);
}

/**
 * Takes erased messages out of each member's counters, keeping them exact: a message from before
 * they joined leaves their base count, one they hid their hidden count, and one that still counted
 * as unread their unread count, through the same mark insert a read uses (so a racing read and the
 * job cannot both take it back).
 */
async function uncount(deps: Deps, list: MessageDoc[], members: MemberDoc[], marks: MarkDoc[]) {
  const marked = new Map(marks.map((m) => [`${m.message_id.toHexString()}:${m.user_id.toHexString()}`, m]));
  const tally = new Map(members.map((m) => [m.user_id.toHexString(), { base: 0, hidden: 0, unread: 0 }]));
  const claims: MarkDoc[] = [];
  const now = deps.clock.now();
  for (const msg of list) {
    for (const member of members) {
      const t = tally.get(member.user_id.toHexString())!;
      if (msg.seq <= member.joined_seq) {
        t.base++;
        continue;
      }
      const mark = marked.get(`${msg._id.toHexString()}:${member.user_id.toHexString()}`);
      if (mark?.hidden) t.hidden++;
      else if (!mark && !msg.sender_id?.equals(member.user_id)) {
        claims.push({
          _id: newId(),
          message_id: msg._id,
          conversation_id: msg.conversation_id,
          user_id: member.user_id,
          seq: msg.seq,
          hidden: false,
          at: now,
        });
      }
    }
  }
  const won = await claimMarks(deps, claims);
  for (const c of claims) if (won.has(c._id.toHexString())) tally.get(c.user_id.toHexString())!.unread++;
  for (const member of members) {
    const t = tally.get(member.user_id.toHexString())!;
    if (t.base || t.hidden || t.unread) await uncountErased(deps, member.conversation_id, member.user_id, t);
  }
}

/** The conversation's message count, and its last message when that one went. */
async function fixConversation(deps: Deps, conversationId: ObjectId, list: MessageDoc[], now: Date) {
  const conversation = await findConversation(deps, conversationId);
  if (!conversation) return;
  const lastId = conversation.last_message?.message_id;
  const erasedLast = lastId && list.some((m) => m._id.equals(lastId)) ? lastId : null;
  const replacement = erasedLast ? await newestLive(deps, conversationId, now) : null;
  await forgetMessages(deps, conversationId, list.length, erasedLast, replacement);
}

/** The newest message of a conversation that has not expired, as a conversation list shows it. */
async function newestLive(deps: Deps, conversationId: ObjectId, now: Date): Promise<LastMessage | null> {
  let below = Number.MAX_SAFE_INTEGER;
  for (;;) {
    const batch = await messageRange(deps, conversationId, 0, below, -1, 20);
    const live = batch.find((m) => !isExpired(m, now));
    if (live) {
      return {
        message_id: live._id,
        seq: live.seq,
        encrypted_preview: live.encrypted_preview,
        timestamp: live.created_at,
        sender_id: live.sender_id,
        expires_at: live.expires_at,
      };
    }
    if (batch.length < 20) return null;
    below = batch.at(-1)!.seq;
  }
}

/**
 * View-once messages past VIEW_ONCE_CAP_SECONDS, opened by everyone or not: the ciphertext and
 * every key go, a tombstone remains (kept TOMBSTONE_RETENTION_SECONDS, then erased by the job above).
 */
export async function capViewOnce(deps: Deps, now: Date): Promise<number> {
  let erased = 0;
  for (;;) {
    const due = await viewOnceDue(deps, now, deps.config.EXPIRY_BATCH);
    for (const m of due) {
      if (await tombstone(deps, m)) {
        erased++;
        await setLastPreview(deps, m.conversation_id, m._id, null);
      } else await clearViewOnceCap(deps, m._id);
      await eraseMessageKeys(deps, m._id);
      await eraseCopies(deps, m._id);
    }
    if (due.length < deps.config.EXPIRY_BATCH) return erased;
  }
}
