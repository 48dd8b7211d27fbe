import type { ObjectId } from "mongodb";
import { eraseForMessages } from "../attachments/owners.js";
import { settleErased, uncountErased } from "../conversations/counters.js";
import { membersOf } from "../conversations/members.js";
import {
  findConversations,
  forgetMessages,
  type LastMessage,
  replaceLastMessage,
  setLastPreview,
  settleForgotten,
} from "../conversations/repo.js";
import { newId } from "../db/ids.js";
import { type Change, devicesOf, eraseCopies, recordChanges } from "../delivery/deliver.js";
import { devicesNamedAny, redactHidden } from "../delivery/repo.js";
import type { Deps } from "../deps.js";
import {
  batchesDue,
  claimErasures,
  claimedBy,
  dropBatch,
  type Erased,
  type ExpiryBatchDoc,
  findBatch,
  newBatch,
  setPlan,
  takeBatch,
} from "./erasures.js";
import { eraseKeysOf, eraseMessageKeys } from "./keys.js";
import {
  claimMarks,
  eraseMarksOf,
  eraseReceiptsOf,
  type MarkDoc,
  marksOf,
  marksWithIds,
} from "./receipts.js";
import {
  clearViewOnceCap,
  deleteMessages,
  expiredMessages,
  findMessages,
  isExpired,
  messageRange,
  tombstone,
  viewOnceDue,
} from "./repo.js";

/**
 * How long the run that took a batch is given to finish it before another run takes it over (the
 * first run died, or stalls).
 */
export const LEASE_MS = 60_000;

/** How long a batch waits at most for a gap in live work: under constant load it still goes on. */
export const YIELD_MS = 100;
/** After live work came, a batch is this fraction of EXPIRY_BATCH (500: 10 messages). */
const BUSY_SHARE = 50;

/**
 * Test hooks: awaited between a batch's steps, so that a test can run another process's job
 * there (the interleavings of test/integration/expiry-jobs.test.ts). Production passes none.
 */
export interface ExpiryPauses {
  /** After the batch is read, before it is recorded and claimed. */
  beforeClaim?: () => Promise<void>;
  /** After the claim, before anything is planned, counted or erased. */
  afterClaim?: () => Promise<void>;
}

/** The steps of a batch, by the names the crash tests kill a server at (Deps.checkpoint). */
export const EXPIRY_STEPS = [
  "expiry.claimed", // the batch is recorded and has claimed its messages
  "expiry.planned", // what it takes out of which counter is recorded
  "expiry.marked", // the marks that take the unreads back are in
  "expiry.counted", // member and conversation counters are down
  "expiry.announced", // every member device has its message_expired
  "expiry.erased", // the messages and everything they had are gone
] as const;

/**
 * Erases every message past its `expires_at` (disappearing messages, tombstones past their
 * retention), in batches of EXPIRY_BATCH, and empties their copies in every stream.
 *
 * A batch is recorded (expiry_batches) before it claims its messages: the insert of a message's id
 * into `message_erasures` names the batch, and the unique `_id` lets one batch have it, on both
 * stores. Once claimed, the batch records its plan (what each counter loses) and applies it in
 * steps that each do nothing twice (the counters carry the batch's id while it runs, the marks
 * have the plan's ids, the announcement skips devices that have it), so that a batch whose run
 * died or stalls past LEASE_MS is taken over and finished by any other run, on any process, with
 * every counter taken back once and every device told once. The work follows what expired: one
 * indexed range read on `expires_at` a batch, the rest by `_id` or over the batch's ids.
 */
export async function expireMessages(deps: Deps, now: Date, pauses: ExpiryPauses = {}): Promise<number> {
  let erased = 0;
  // Batches whose run died or stalls: finished first.
  for (const due of await batchesDue(deps, now, 100)) erased += await takeOver(deps, due);
  const full = deps.config.EXPIRY_BATCH;
  const small = Math.max(1, Math.ceil(full / BUSY_SHARE));
  // Live work first: a batch waits for a gap between requests and socket events (at most YIELD_MS),
  // and is 1/BUSY_SHARE of the size after any came, so that a send waits behind a small batch's
  // writes at most. "Came" is any live work started since the last batch began, not only what runs
  // at the instant of choosing: the wait above ends exactly in a gap between requests, where a
  // choice by `busy()` alone took a full batch in the middle of steady traffic (the send p99 of
  // 800 ms against 67 ms idle in docs/performance.md). With nothing coming, the size doubles batch
  // after batch up to EXPIRY_BATCH (a few batches to reach it).
  let size = small;
  let seen = deps.load.started();
  for (;;) {
    await deps.load.quiet(YIELD_MS);
    const found = await expiredMessages(deps, now, size);
    if (!found.length) break;
    await pauses.beforeClaim?.();
    const ids = found.map((m) => m._id);
    const batch = await newBatch(deps, newId(), ids, LEASE_MS);
    const { won, taken } = await claimErasures(deps, ids, batch._id);
    await deps.checkpoint?.("expiry.claimed");
    await pauses.afterClaim?.();
    if (won.length) erased += await finish(deps, batch, false);
    else await dropBatch(deps, batch._id);
    // Messages another batch holds: finished here if that batch's run has let its lease lapse.
    let progress = won.length;
    const others = new Map(taken.flatMap((c) => (c.batch ? [[c.batch.toHexString(), c.batch]] : [])));
    for (const id of others.values()) {
      const other = await findBatch(deps, id);
      if (!other) continue;
      const n = await takeOver(deps, other);
      erased += n;
      progress += n;
    }
    // Claims older than batches: whose run died before recording any, erased as they are.
    const legacy = taken.filter((c) => !c.batch && c.at.getTime() + LEASE_MS <= now.getTime());
    if (legacy.length)
      await eraseRemains(
        deps,
        legacy.map((c) => c._id),
      );
    progress += legacy.length;
    // Nothing taken: what is left is another run's, within its lease.
    if (found.length < size || !progress) break;
    const started = deps.load.started();
    size = deps.load.busy() || started !== seen ? small : Math.min(full, size * 2);
    seen = started;
  }
  // The copies, edits and receipts of what expired, in every stream, in one write.
  if (erased) await redactHidden(deps, now);
  return erased;
}

/** Finishes another run's batch if its lease has passed (one taker wins); how many it erased. */
async function takeOver(deps: Deps, batch: ExpiryBatchDoc) {
  const taken = await takeBatch(deps, batch, LEASE_MS);
  return taken ? await finish(deps, taken, true) : 0;
}

/** Plans the batch if nobody has yet, and applies its plan; how many messages it erased. */
async function finish(deps: Deps, batch: ExpiryBatchDoc, resumed: boolean) {
  const plan = batch.plan ?? (await setPlan(deps, batch._id, await planFor(deps, batch)));
  // Gone meanwhile: another run finished it.
  if (!plan) return 0;
  await deps.checkpoint?.("expiry.planned");
  await apply(deps, batch._id, plan, resumed || batch.plan !== null);
  return plan.messages.length;
}

/**
 * What taking the batch's messages out of the counters means, from the marks as they are: a
 * message from before a member joined leaves their base count, one they hid their hidden count,
 * and one that still counted as unread their unread count, through the same mark insert a read
 * uses (so a racing read and the job cannot both take it back).
 */
async function planFor(deps: Deps, batch: ExpiryBatchDoc): Promise<NonNullable<ExpiryBatchDoc["plan"]>> {
  const mine = await claimedBy(deps, batch);
  const list = await findMessages(deps, mine);
  const marks = await marksOf(
    deps,
    list.map((m) => m._id),
  );
  const marked = new Map(marks.map((m) => [`${m.message_id.toHexString()}:${m.user_id.toHexString()}`, m]));
  const tallies: NonNullable<ExpiryBatchDoc["plan"]>["tallies"] = [];
  const claims: MarkDoc[] = [];
  const now = deps.clock.now();
  for (const conversationId of new Set(list.map((m) => m.conversation_id.toHexString()))) {
    const here = list.filter((m) => m.conversation_id.toHexString() === conversationId);
    for (const member of await membersOf(deps, here[0]!.conversation_id)) {
      const t = { conversation_id: member.conversation_id, user_id: member.user_id, base: 0, hidden: 0 };
      for (const msg of here) {
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
      tallies.push(t);
    }
  }
  const messages: Erased[] = list.map((m) => ({
    _id: m._id,
    conversation_id: m.conversation_id,
    seq: m.seq,
    sender_id: m.sender_id,
  }));
  return { messages, tallies, claims };
}

/** Applies a batch's plan, step by step; every step may have run before (`resumed`) and does nothing twice. */
async function apply(
  deps: Deps,
  batch: ObjectId,
  plan: NonNullable<ExpiryBatchDoc["plan"]>,
  resumed: boolean,
) {
  const ids = plan.messages.map((m) => m._id);
  const inserted = await claimMarks(deps, plan.claims);
  // Resumed: a claim that went in on an earlier try is one this batch won too.
  const won = resumed
    ? await marksWithIds(
        deps,
        plan.claims.map((c) => c._id),
      )
    : inserted;
  await deps.checkpoint?.("expiry.marked");
  const unread = new Map<string, number>();
  for (const c of plan.claims.filter((c) => won.has(c._id.toHexString()))) {
    const k = `${c.conversation_id.toHexString()}:${c.user_id.toHexString()}`;
    unread.set(k, (unread.get(k) ?? 0) + 1);
  }
  const tallies = plan.tallies.map((t) => ({
    ...t,
    unread: unread.get(`${t.conversation_id.toHexString()}:${t.user_id.toHexString()}`) ?? 0,
  }));
  const byConversation = new Map<string, Erased[]>();
  for (const m of plan.messages) {
    const k = m.conversation_id.toHexString();
    byConversation.set(k, [...(byConversation.get(k) ?? []), m]);
  }
  const conversationIds = [...byConversation.values()].map((l) => l[0]!.conversation_id);
  await uncountErased(deps, batch, tallies);
  for (const list of byConversation.values())
    await forgetMessages(deps, list[0]!.conversation_id, list.length, batch);
  await deps.checkpoint?.("expiry.counted");
  await fixLastMessages(deps, conversationIds, ids);
  const told = resumed
    ? await devicesNamedAny(
        deps,
        ids.map((id) => id.toHexString()),
        "message_expired",
      )
    : new Set<string>();
  const changes: Change[] = [];
  for (const list of byConversation.values()) {
    const conversationId = list[0]!.conversation_id;
    const members = await membersOf(deps, conversationId);
    const targets = await devicesOf(
      deps,
      members.map((m) => m.user_id),
    );
    for (const m of list) {
      const hex = m._id.toHexString();
      const untold = targets.filter((t) => !told.has(`${hex}:${t.user_id.toHexString()}:${t.device_id}`));
      changes.push({
        type: "message_expired",
        conversation_id: conversationId,
        message_id: m._id,
        targets: untold,
      });
    }
  }
  await recordChanges(deps, changes);
  await deps.checkpoint?.("expiry.announced");
  await eraseRemains(deps, ids);
  await deps.checkpoint?.("expiry.erased");
  await settleErased(deps, batch, plan.tallies);
  await settleForgotten(deps, conversationIds, batch);
  await dropBatch(deps, batch);
}

/** The physical part, idempotent: whatever the messages still have, and the messages. */
async function eraseRemains(deps: Deps, ids: ObjectId[]) {
  await eraseForMessages(deps, ids); // the blobs these messages carried
  await eraseKeysOf(deps, ids);
  await eraseReceiptsOf(deps, ids);
  await eraseMarksOf(deps, ids);
  await deleteMessages(deps, ids);
}

/** Where a conversation's newest message is among the erased, the newest one left takes its place. */
async function fixLastMessages(deps: Deps, conversationIds: ObjectId[], erased: ObjectId[]) {
  const gone = new Set(erased.map((id) => id.toHexString()));
  const now = deps.clock.now();
  for (const conversation of (await findConversations(deps, conversationIds)).values()) {
    const lastId = conversation.last_message?.message_id;
    if (!lastId || !gone.has(lastId.toHexString())) continue;
    await replaceLastMessage(deps, conversation._id, lastId, await newestLive(deps, conversation._id, now));
  }
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
