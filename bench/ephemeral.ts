import { ObjectId } from "mongodb";
import { members } from "../src/conversations/members.js";
import { conversations } from "../src/conversations/repo.js";
import type { Deps } from "../src/deps.js";
import { messages } from "../src/messages/collection.js";
import { expireMessages } from "../src/messages/expiry.js";
import { messageKeys } from "../src/messages/keys.js";
import { line, type MessagingBench, quantiles, timed } from "./messages.js";
import { storedMessages } from "./stored.js";

/**
 * The message expiry job's cost: the time to erase EXPIRED messages (each with a key, in one
 * conversation, past their expiry), and POST /messages and GET history p99 while it runs, beside
 * the same figures with the job idle. The job runs in this process, as a server's runner would:
 * three backlogs in one run, erased by the job as it was (blind to live work) with traffic, by the
 * job yielding to live work (src/lib/load.ts) with traffic, and by it with nothing else going on.
 */
const EXPIRED = Number(process.env.BENCH_EXPIRED ?? 100_000);
const N = Number(process.env.BENCH_LATENCY_N ?? 300);
/** The job's batch (EXPIRY_BATCH); unset, the server's default. */
const BATCH = process.env.BENCH_EXPIRY_BATCH ? Number(process.env.BENCH_EXPIRY_BATCH) : undefined;
/** Which of the three backlogs to erase (BENCH_EXPIRY_RUNS=blind,yielding,alone; all unset). */
const RUNS = new Set((process.env.BENCH_EXPIRY_RUNS ?? "blind,yielding,alone").split(","));
/**
 * How long the traffic goes on beside the job (BENCH_TRAFFIC_SECONDS; unset, until the job ends);
 * then the job finishes alone. A backlog of 100,000 erased under back-to-back traffic takes an
 * hour, as it yields: its sends' figures are those of the first minutes.
 */
const TRAFFIC_MS = Number(process.env.BENCH_TRAFFIC_SECONDS ?? Number.POSITIVE_INFINITY) * 1000;

export async function benchEphemeral(server: Deps, m: MessagingBench) {
  const deps = BATCH ? { ...server, config: { ...server.config, EXPIRY_BATCH: BATCH } } : server;
  const [a1, , b1] = m.devices;
  const db = deps.store.db;
  const read = () =>
    m.call("GET", `/api/v1/messages/conversations/${m.conversation}/messages?limit=50`, b1!.token);
  const sendAndRead = async () => {
    const sends: number[] = [];
    const reads: number[] = [];
    for (let i = 0; i < N; i++) {
      sends.push(...(await timed(1, () => m.send(a1!))));
      reads.push(...(await timed(1, read)));
    }
    return { sends, reads };
  };

  const idle = await sendAndRead();
  line("POST /messages, expiry job idle", quantiles(idle.sends));
  line("GET history (newest 50), expiry job idle", quantiles(idle.reads));

  // EXPIRED messages of a group of its own, stored directly, each already past its expiry.
  const backlog = async () => {
    const group = (await m.call("POST", "/api/v1/conversations/groups", a1!.token, {
      name: "expiring",
      participant_ids: [b1!.id],
    })) as { id: string };
    const conversationId = new ObjectId(group.id);
    const into = {
      conversation: conversationId,
      sender: new ObjectId(a1!.id),
      senderDevice: a1!.device,
      reader: new ObjectId(b1!.id),
      readerDevice: b1!.device,
    };
    const past = new Date(deps.clock.now().getTime() - 1_000);
    for (let from = 0; from < EXPIRED; from += 1_000) {
      const { docs, keys } = storedMessages(into, from + 1, Math.min(EXPIRED, from + 1_000), {
        is_ephemeral: true,
        ttl_seconds: 5,
        created_at: past,
        expires_at: past,
      });
      await messages.col(db).insertMany(docs, { ordered: false });
      await messageKeys.col(db).insertMany(keys, { ordered: false });
    }
    await conversations
      .col(db)
      .updateOne({ _id: conversationId }, { $set: { seq: EXPIRED, message_count: EXPIRED } });
    await members
      .col(db)
      .updateMany(
        { conversation_id: conversationId, user_id: into.reader },
        { $set: { joined_seq: 0, base_count: 0, unread_count: EXPIRED } },
      );
    return conversationId;
  };

  /** Erases a backlog with sends and reads going on (traffic) or alone; its figures. */
  const erase = async (label: string, runDeps: Deps, traffic: boolean) => {
    const conversationId = await backlog();
    const start = performance.now();
    let done = false;
    const job = expireMessages(runDeps, runDeps.clock.now()).finally(() => {
      done = true;
    });
    const sends: number[] = [];
    const reads: number[] = [];
    while (traffic && !done && performance.now() - start < TRAFFIC_MS) {
      sends.push(...(await timed(1, () => m.send(a1!))));
      reads.push(...(await timed(1, read)));
    }
    const cutShort = traffic && !done;
    const erased = await job;
    const seconds = (performance.now() - start) / 1000;
    line(
      `${label}: erase ${erased} expired messages (batch ${deps.config.EXPIRY_BATCH})`,
      `${seconds.toFixed(1)} s, ${(erased / seconds).toFixed(0)} messages/s`,
    );
    if (traffic) {
      if (cutShort)
        line(
          `${label}: traffic stopped after`,
          `${(TRAFFIC_MS / 1000).toFixed(0)} s; the job then ran alone`,
        );
      line(`${label}: POST /messages while the job runs (${sends.length} sends)`, quantiles(sends));
      line(`${label}: GET history (newest 50) while the job runs (${reads.length})`, quantiles(reads));
    }
    const left = await messages.col(db).countDocuments({ conversation_id: conversationId });
    if (left) throw new Error(`${left} expired messages left`);
  };

  // The baseline runs the job as it was before it yielded: it never sees live work.
  const blind = {
    ...deps,
    load: { busy: () => false, started: () => 0, quiet: async () => {}, track: <T>(w: Promise<T>) => w },
  };
  if (RUNS.has("blind")) await erase("baseline, not yielding, with traffic", blind, true);
  if (RUNS.has("yielding")) await erase("yielding to live work, with traffic", deps, true);
  if (RUNS.has("alone")) await erase("yielding, nothing else under way", deps, false);
}
