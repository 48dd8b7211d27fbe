import { randomBytes } from "node:crypto";
import { ObjectId } from "mongodb";
import { members } from "../src/conversations/members.js";
import { conversations } from "../src/conversations/repo.js";
import { headKey, streamEntries, streamHeads } from "../src/delivery/repo.js";
import { type BenchContext, line, type MessagingBench, quantiles, timed } from "./messages.js";

/**
 * The reads a client makes besides history, each next to the one query it needs, run by the driver
 * in the same run: a sync page of 100 entries from the middle of a stream of BENCH_STREAM (100,000)
 * entries, and the conversation list (first page of 20) of a user in each of BENCH_CONVERSATIONS
 * (20,500: the same user, conversations added between the sizes) conversations. Stored directly, not
 * over HTTP.
 */
const STREAM = Number(process.env.BENCH_STREAM ?? 100_000);
const CONVERSATIONS = (process.env.BENCH_CONVERSATIONS ?? "20,500").split(",").map(Number);
const N = Number(process.env.BENCH_HISTORY_N ?? 30);

export async function benchReads(ctx: BenchContext, m: MessagingBench) {
  const db = ctx.store.db;
  const reader = m.devices[3]!;
  const userId = new ObjectId(reader.id);
  const now = new Date();

  const head = await streamHeads.col(db).findOne({ _id: headKey(userId, reader.device) });
  const from = head?.last ?? 0;
  for (let start = from + 1; start <= from + STREAM; start += 1_000) {
    const docs = Array.from({ length: Math.min(1_000, from + STREAM + 1 - start) }, (_, i) => ({
      _id: `${headKey(userId, reader.device)}:${start + i}`,
      user_id: userId,
      device_id: reader.device,
      position: start + i,
      type: "message_deleted" as const,
      data: {
        message_id: new ObjectId().toHexString(),
        conversation_id: new ObjectId().toHexString(),
        deleted_for_everyone: false,
      },
      refs: [],
      created_at: now,
      expires_at: new Date(now.getTime() + 30 * 86_400_000),
    }));
    await streamEntries.col(db).insertMany(docs, { ordered: false });
  }
  await streamHeads
    .col(db)
    .updateOne({ _id: headKey(userId, reader.device) }, { $set: { last: from + STREAM } }, { upsert: true });
  const since = from + STREAM / 2;
  line(
    `GET /sync, 100 entries from the middle of ${STREAM}`,
    quantiles(await timed(N, () => m.call("GET", `/api/v1/sync?since=${since}&limit=100`, reader.token))),
  );
  const rawSync = () =>
    streamEntries
      .col(db)
      .find({ user_id: userId, device_id: reader.device, position: { $gt: since } })
      .sort({ position: 1 })
      .limit(101)
      .toArray();
  line(
    `raw find, 101 entries from the middle of ${STREAM} (driver, no HTTP)`,
    quantiles(await timed(N, rawSync)),
  );

  let stored = 0;
  for (const size of CONVERSATIONS) {
    for (; stored < size; stored += 100) await addConversations(stored, Math.min(100, size - stored));
    await benchList(size);
  }

  async function addConversations(start: number, count: number) {
    const ids = Array.from({ length: count }, () => new ObjectId());
    await conversations.col(db).insertMany(
      ids.map((_id, i) => ({
        _id,
        kind: "group" as const,
        pair_key: `group:${_id.toHexString()}`,
        name: `list ${start + i} ${randomBytes(4).toString("hex")}`,
        picture_url: null,
        seq: 0,
        message_count: 0,
        member_count: 1,
        joins: 1,
        last_message: null,
        created_at: now,
        updated_at: now,
      })),
    );
    await members.col(db).insertMany(
      ids.map((conversation_id, i) => ({
        _id: new ObjectId(),
        conversation_id,
        user_id: userId,
        role: "admin" as const,
        joined_at: now,
        rank: 1,
        joined_seq: 0,
        base_count: 0,
        unread_count: 0,
        hidden_count: 0,
        archived: false,
        last_activity_at: new Date(now.getTime() - (start + i) * 1000),
      })),
    );
  }

  async function benchList(size: number) {
    // Past the list's rate limit (60 a minute, sliding): two windows on, as bench/messages.ts does.
    ctx.skew.seconds += 121;
    line(
      `GET /conversations, first 20 of ${size}`,
      quantiles(await timed(N, () => m.call("GET", "/api/v1/conversations?limit=20", reader.token))),
    );
    const rawList = () =>
      members
        .col(db)
        .find({ user_id: userId, archived: false, last_activity_at: { $lte: new Date(8.64e15) } })
        .sort({ last_activity_at: -1, _id: -1 })
        .limit(20)
        .toArray();
    line(`raw find, first 20 memberships of ${size} (driver, no HTTP)`, quantiles(await timed(N, rawList)));
    const mine = { user_id: userId, archived: false };
    line(
      `raw count, ${size} memberships (driver, no HTTP)`,
      quantiles(await timed(N, () => members.col(db).countDocuments(mine))),
    );
    for (const [label, atOnce] of [
      ["one after another", false],
      ["in the page's 4 waits", true],
    ] as const) {
      line(
        `raw queries the page needs, ${label}, ${size} (driver, no HTTP)`,
        quantiles(await timed(N, () => pageQueries(atOnce))),
      );
    }
  }

  /**
   * Every query GET /conversations sends for the reader's first page, as the driver sends them
   * without HTTP or Hush's code: the session, the rate limit's two, the memberships page and its
   * count, the conversations and their members, then those members' users, the contacts and blocks
   * between them and the reader, and who of them is online. `atOnce` runs each wait's queries
   * together, as the page does; else one after another (their sum).
   */
  async function pageQueries(atOnce: boolean) {
    const run = async (steps: (() => Promise<unknown>)[]) => {
      if (atOnce) return Promise.all(steps.map((s) => s()));
      const out: unknown[] = [];
      for (const s of steps) out.push(await s());
      return out;
    };
    const sid = JSON.parse(Buffer.from(reader.token.split(".")[1]!, "base64url").toString()).sid as string;
    await run([() => db.collection("auth_sessions").findOne({ _id: new ObjectId(sid) })]);
    const window = Math.floor(Date.now() / 60_000);
    const counter = db.collection<{ _id: string; n: number }>("rate_limits");
    const [, , page] = (await run([
      () =>
        counter.findOneAndUpdate(
          { _id: `bench.${window}` },
          { $inc: { n: 1 }, $setOnInsert: { expires_at: new Date(Date.now() + 3_600_000) } },
          { upsert: true, returnDocument: "after" },
        ),
      () => counter.findOne({ _id: `bench.${window - 1}` }),
      rawListFor,
      () => members.col(db).countDocuments({ user_id: userId, archived: false }),
    ])) as [unknown, unknown, { conversation_id: ObjectId }[]];
    const ids = page.map((m) => m.conversation_id);
    const [, all] = (await run([
      () =>
        conversations
          .col(db)
          .find({ _id: { $in: ids } })
          .toArray(),
      () =>
        members
          .col(db)
          .find({ conversation_id: { $in: ids } })
          .sort({ rank: 1 })
          .toArray(),
    ])) as [unknown, { user_id: ObjectId }[]];
    const people = [...new Map(all.map((m) => [m.user_id.toHexString(), m.user_id])).values()].filter(
      (id) => !id.equals(userId),
    );
    await run([
      () =>
        db
          .collection("users")
          .find({ _id: { $in: people } })
          .toArray(),
      () =>
        db
          .collection("contacts")
          .find({ owner_id: userId, contact_id: { $in: people }, status: "accepted" })
          .toArray(),
      () =>
        db
          .collection("blocks")
          .find({ blocker_id: userId, blocked_id: { $in: people } })
          .toArray(),
      () =>
        db
          .collection("blocks")
          .find({ blocker_id: { $in: people }, blocked_id: userId })
          .toArray(),
      () =>
        db
          .collection("presence")
          .find({ user_id: { $in: people }, expires_at: { $gt: new Date() } })
          .toArray(),
    ]);
  }

  function rawListFor() {
    return members
      .col(db)
      .find({ user_id: userId, archived: false, last_activity_at: { $lte: new Date(8.64e15) } })
      .sort({ last_activity_at: -1, _id: -1 })
      .limit(20)
      .toArray();
  }
}
