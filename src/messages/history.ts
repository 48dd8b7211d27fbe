import type { z } from "@hono/zod-openapi";
import type { ObjectId } from "mongodb";
import { mine } from "../conversations/access.js";
import { type ConversationDoc, findConversation } from "../conversations/repo.js";
import { parseId } from "../db/ids.js";
import type { Deps } from "../deps.js";
import { AppError } from "../http/errors.js";
import type { Auth } from "../http/openapi.js";
import { early, together } from "../lib/together.js";
import { absentTo } from "../policy/policy.js";
import { keysForDevice, keysNear, keysOfPage, type MessageKeyDoc } from "./keys.js";
import { toMessageBody } from "./present.js";
import { hiddenNear, hiddenSeqs, receiptsFor } from "./receipts.js";
import { findMessage, isExpired, type MessageDoc, messageRange } from "./repo.js";
import type { HistoryQuery } from "./schemas.js";

/** The end of a conversation: every position lies below it. */
const END = Number.MAX_SAFE_INTEGER;

/** A before/after cursor that names no message of this conversation (or one no longer there). */
const notHere = (field: string) =>
  new AppError("VALIDATION_ERROR", `${field} is not a message of this conversation`, {
    [field]: "not a message of this conversation",
  });

/** The position a before/after cursor names, read on its own: a message of this conversation, or a 400. */
async function cursorSeq(deps: Deps, conversationId: ObjectId, id: string, field: string) {
  const m = await findMessage(deps, parseId(id, field));
  if (!m?.conversation_id.equals(conversationId)) throw notHere(field);
  deps.positions.note([m]);
  return m.seq;
}

/**
 * A cursor whose position is known here (`deps.positions`), checked by the page's first read of
 * messages, which then starts at the cursor itself (firstReads): the message nearest its start is
 * the cursor's while it is still there, and a 400 as from cursorSeq when it is gone.
 */
async function cursorIn(deps: Deps, read: Promise<MessageDoc[]>, id: string, seq: number, field: string) {
  const nearest = (await read)[0];
  if (nearest?.seq !== seq || nearest._id.toHexString() !== id.toLowerCase()) throw notHere(field);
  deps.positions.note([nearest]);
  return seq;
}

/** The range a page's first reads cover when they start from position `from` in `direction`. */
const from = (direction: 1 | -1, seq: number) =>
  direction === 1 ? { above: seq, below: END } : { above: 0, below: seq };

/** Where a page over `range` starts reading: its end for older messages, its start for newer. */
const startOf = (range: { above: number; below: number }, direction: 1 | -1) =>
  direction === 1 ? range.above : range.below;

/**
 * Whether a read of the `limit` entries nearest the start of a range, made before the page was
 * known, holds every entry from the start as far as position `last`: it found fewer than it
 * could have (so it found all), or its farthest entry lies beyond `last`.
 */
function reaches(seqs: number[], limit: number, direction: 1 | -1, last: number) {
  if (seqs.length < limit) return true;
  const edge = seqs.at(-1)!;
  return direction === 1 ? edge > last : edge < last;
}

/**
 * The reads of a page that start before its messages are known: the nearest of each, `want` of
 * them. The member's marks only once the membership says they may have some (`hides`). Started from
 * a cursor (`cursor`), the messages read covers the cursor's own position too, one more message,
 * for cursorIn; the walk drops it with all else outside its range.
 */
interface FirstReads {
  messages: Promise<MessageDoc[]>;
  marks: Promise<number[]>;
  keys: Promise<MessageKeyDoc[]>;
}

function firstReads(
  deps: Deps,
  conversationId: ObjectId,
  auth: Auth,
  range: { above: number; below: number },
  direction: 1 | -1,
  want: number,
  hides: Promise<boolean>,
  cursor = false,
): FirstReads {
  const reach = !cursor
    ? range
    : direction === 1
      ? { ...range, above: range.above - 1 }
      : { ...range, below: range.below + 1 };
  return {
    messages: early(
      messageRange(deps, conversationId, reach.above, reach.below, direction, cursor ? want + 1 : want),
    ),
    marks: early(
      hides.then((may) => (may ? hiddenNear(deps, conversationId, auth.userId, range, direction, want) : [])),
    ),
    keys: early(keysNear(deps, conversationId, auth, range, direction, want)),
  };
}

/**
 * Walks the conversation from a position, nearest first, skipping what the member deleted for
 * themselves and what has expired, until `want` messages are found or the range is exhausted. Each
 * step is one range read on {conversation_id, seq} and, for a member who `hides`, one on their own
 * marks alongside it: the cost follows the page (and the deletions in it), never the conversation's
 * length. The first step is `first`, read before the range was known: over a range that reaches at
 * least as far from the start, so that what lies outside `range` is dropped (for the newest page,
 * messages from before the member joined: then the range is exhausted). Each message has one mark
 * at most, so a step's marks hold every mark of its batch unless marks of erased messages sit in
 * between, which `reaches` catches (the marks are then read again for the batch).
 */
async function walk(
  deps: Deps,
  conversationId: ObjectId,
  userId: ObjectId,
  range: { above: number; below: number },
  direction: 1 | -1,
  want: number,
  first: FirstReads,
  hides: boolean,
) {
  const found: MessageDoc[] = [];
  const now = deps.clock.now();
  let { above, below } = range;
  let step: Pick<FirstReads, "messages" | "marks"> = first;
  for (;;) {
    const need = want - found.length;
    const [read, marks] = await together(step.messages, step.marks);
    const batch = read.filter((m) => m.seq > above && m.seq < below);
    if (!batch.length) break;
    const seqs = batch.map((m) => m.seq);
    const hidden =
      !hides || reaches(marks, need, direction, batch.at(-1)!.seq)
        ? new Set(marks)
        : await hiddenSeqs(deps, conversationId, userId, Math.min(...seqs), Math.max(...seqs));
    // Expired messages are left out at once, before the expiry job erases them.
    found.push(...batch.filter((m) => !hidden.has(m.seq) && !isExpired(m, now)));
    if (found.length >= want || batch.length < need) break; // found, or the range is exhausted
    if (direction === 1) above = batch.at(-1)!.seq;
    else below = batch.at(-1)!.seq;
    const rest = want - found.length;
    step = {
      messages: messageRange(deps, conversationId, above, below, direction, rest),
      marks: hides
        ? hiddenNear(deps, conversationId, userId, { above, below }, direction, rest)
        : Promise.resolve([]),
    };
  }
  return found;
}

/**
 * One page of history as the calling device sees it: oldest first, its own keys only, receipts
 * on the caller's own messages. `total` comes from counters (messages stored since the member
 * joined, less those they deleted for themselves), never from counting the conversation.
 *
 * The membership and the cursor are read together. The page's first messages, the
 * member's marks and this device's keys nearest its start are read alongside them when that start
 * is known (the newest page: the end; a cursor at an end of a page this process served:
 * `deps.positions`), over all that lies beyond it (the walk drops what lies before the member
 * joined), so that the page takes one wait after the session's; a cursor known there is checked by
 * that read of messages (cursorIn), not read on its own. Otherwise, and when the member joined
 * after a cursor they page forward from, they are read once the cursor is known. Nothing read
 * is answered before the membership and the cursor are: a caller who is not a member gets the 404
 * alone, a cursor no longer there the 400. The keys are read again for the page only when the first
 * read does not reach it (an edit's two key sets, a walk past deleted messages). Receipts and who
 * looks absent wait for the page, and only when there are any to find. The member's marks are
 * read only when they may have deleted messages for themselves (MemberDoc.hides), once the
 * membership says so: a second wait, for them alone.
 */
export async function historyPage(deps: Deps, auth: Auth, id: string, q: z.infer<typeof HistoryQuery>) {
  const conversationId = parseId(id, "conversation_id");
  const direction = q.after ? 1 : -1;
  const want = q.limit + 1;
  const at = q.after ?? q.before;
  const field = q.after ? "after" : "before";
  const membership = early(mine(deps, conversationId, auth.userId));
  const hides = early(membership.then(({ me }) => me.hides !== false));
  const known = at ? deps.positions.seqOf(at, conversationId) : END;
  const guessed =
    known === undefined
      ? null
      : firstReads(deps, conversationId, auth, from(direction, known), direction, want, hides, !!at);
  const cursor = !at
    ? null
    : early(
        guessed
          ? cursorIn(deps, guessed.messages, at, known!, field)
          : cursorSeq(deps, conversationId, at, field),
      );
  const { conversation, me } = await membership;
  const range = { above: me.joined_seq, below: END };
  if (q.after) range.above = Math.max(range.above, await cursor!);
  if (q.before) range.below = await cursor!;
  const first =
    guessed && startOf(range, direction) === known
      ? guessed
      : firstReads(deps, conversationId, auth, range, direction, want, hides);

  const found = await walk(deps, conversationId, auth.userId, range, direction, want, first, await hides);
  const page = found.slice(0, q.limit).sort((a, b) => a.seq - b.seq);
  deps.positions.note([page[0], page.at(-1)].filter((m) => m !== undefined));
  const own = page.filter((m) => m.sender_id?.equals(auth.userId)).map((m) => m._id);
  const near = await first.keys;
  const farthest = direction === 1 ? page.at(-1)?.seq : page[0]?.seq;
  const [keys, receipts, absent] = await together(
    farthest === undefined ||
      reaches(
        near.map((k) => k.seq),
        want,
        direction,
        farthest,
      )
      ? keysOfPage(page, near)
      : keysForDevice(deps, page, auth.userId, auth.deviceId),
    receiptsFor(deps, own),
    absentSenders(deps, auth, conversation.kind, page),
  );
  const messages = page.map((m) => {
    const k = m._id.toHexString();
    return asSeen(toMessageBody(m, auth.userId, keys.get(k), receipts.get(k)), absent);
  });
  const total = conversation.message_count - me.base_count - me.hidden_count;
  return { messages, has_more: found.length > q.limit, total: Math.max(0, total) };
}

/** One message as the calling device sees it (the answer to a send, an edit, a replay or a GET). */
export async function messageFor(deps: Deps, auth: Auth, m: MessageDoc) {
  const isMine = m.sender_id?.equals(auth.userId) ?? false;
  const [keys, receipts, conversation] = await Promise.all([
    keysForDevice(deps, [m], auth.userId, auth.deviceId),
    receiptsFor(deps, isMine ? [m._id] : []),
    isMine ? null : findConversation(deps, m.conversation_id),
  ]);
  const absent = conversation ? await absentSenders(deps, auth, conversation.kind, [m]) : new Set<string>();
  const k = m._id.toHexString();
  return asSeen(toMessageBody(m, auth.userId, keys.get(k), receipts.get(k)), absent);
}

/** Senders among `messages` who look absent to the caller (policy.ts: a blocker, in a 1:1). */
function absentSenders(deps: Deps, auth: Auth, kind: ConversationDoc["kind"], messages: MessageDoc[]) {
  const senders = messages.flatMap((m) => (m.sender_id ? [m.sender_id] : []));
  return absentTo(deps, auth.userId, kind, [...new Map(senders.map((s) => [s.toHexString(), s])).values()]);
}

/** A message whose sender looks absent shows no sender, as one from a deleted account does. */
const asSeen = <T extends { sender_id: string | null; sender_device_id: string | null }>(
  body: T,
  absent: Set<string>,
): T =>
  body.sender_id && absent.has(body.sender_id) ? { ...body, sender_id: null, sender_device_id: null } : body;
