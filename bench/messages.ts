import { ed25519 } from "@noble/curves/ed25519.js";
import { ObjectId } from "mongodb";
import { members } from "../src/conversations/members.js";
import { conversations } from "../src/conversations/repo.js";
import type { Store } from "../src/db/store.js";
import { messages } from "../src/messages/collection.js";
import { messageKeys } from "../src/messages/keys.js";
import { authSessions } from "../src/sessions/repo.js";
import type { startSmtp } from "../test/helpers/smtp.js";
import { b64, storedMessages } from "./stored.js";

/**
 * Messaging figures over REST, loopback only, bounded: messages a second between two users with
 * two devices each, the latency of POST /messages, and a history page at 1,000, 20,000 and 100,000 stored
 * messages (stored directly through the messages collections, not over HTTP), next to the
 * store's own raw insert and find rates measured in the same run. The history reads are timed in
 * BENCH_HISTORY_ROUNDS (3) rounds of BENCH_HISTORY_N (30) each, every size in turn, and each page is
 * given as a multiple of its raw find, the newest page also as a multiple of its five queries sent
 * together from the driver, and the largest size's as a multiple of the smallest's. The pages are
 * read from the server in the bench's process and, given `apart`, from the same app in its own.
 *
 * The per-user limit of 100 sends a minute would stop a benchmark: the clock Hush runs on is moved
 * two minutes ahead whenever a sender is about to reach it, so the limiter still runs and counts.
 */
export interface BenchContext {
  base: string;
  store: Store;
  smtp: Awaited<ReturnType<typeof startSmtp>>;
  /** Seconds the server's clock runs ahead of the wall clock. */
  skew: { seconds: number };
  /**
   * The same app on the same store, in a process of its own (bench/serve.ts), as a client meets
   * it: history pages are read there too, where the client's fetch and JSON parse do not share the
   * server's thread.
   */
  apart?: string;
}

const SENDS = Number(process.env.BENCH_SENDS ?? 1_000);
const LATENCY_N = Number(process.env.BENCH_LATENCY_N ?? 300);
const CONCURRENCY = 8;
const BIG = Number(process.env.BENCH_BIG ?? 100_000);
/** Conversation lengths the history page is measured at (BENCH_HISTORY, comma-separated). */
const SIZES = (process.env.BENCH_HISTORY ?? `1000,20000,${BIG}`).split(",").map(Number);

/** What the labels of the pages read from the server in its own process (ctx.apart) end with. */
const APART = ", server apart";

export const quantiles = (ms: number[]) => {
  const s = [...ms].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!.toFixed(2);
  return `p50=${q(0.5)}ms  p95=${q(0.95)}ms  p99=${q(0.99)}ms`;
};
export const line = (label: string, figures: string) => console.log(`${label.padEnd(56)} ${figures}`);

export const median = (ms: number[]) => [...ms].sort((a, b) => a - b)[Math.floor(ms.length / 2)]!;

export async function timed(n: number, fn: (i: number) => Promise<unknown>) {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn(i);
    ms.push(performance.now() - t);
  }
  return ms;
}

export async function benchMessages(ctx: BenchContext) {
  const { base } = ctx;
  const callAt = async (at: string, method: string, path: string, token?: string, body?: unknown) => {
    const res = await fetch(at + path, {
      method,
      headers: {
        ...(body ? { "content-type": "application/json" } : {}),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
    });
    const json = await res.json().catch(() => null);
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  const call = (method: string, path: string, token?: string, body?: unknown) =>
    callAt(base, method, path, token, body);
  const publicKey = () =>
    Buffer.from(ed25519.getPublicKey(ed25519.utils.randomSecretKey())).toString("base64");
  let ip = 0;
  const signUp = async (name: string) => {
    const email = `${name}@bench.example`;
    const s = await fetch(`${base}/api/v1/auth/signup`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-forwarded-for": `10.8.0.${ip++}` },
      body: JSON.stringify({ email }),
    }).then((r) => r.json());
    const v = await call("POST", "/api/v1/auth/verify-otp", undefined, {
      session_id: s.session_id,
      otp: ctx.smtp.code(email),
    });
    const device_info = { device_id: `${name}-1`, device_name: "Phone", public_key: publicKey() };
    const done = await call("POST", `/api/v1/auth/complete-signup?temp_token=${v.temp_token}`, undefined, {
      email,
      username: name,
      full_name: name,
      device_info,
    });
    const l = await fetch(`${base}/api/v1/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-forwarded-for": `10.8.1.${ip++}` },
      body: JSON.stringify({ email }),
    }).then((r) => r.json());
    const second = await call("POST", "/api/v1/auth/verify-otp", undefined, {
      session_id: l.session_id,
      otp: ctx.smtp.code(email),
      device_info: { device_id: `${name}-2`, device_name: "Laptop", public_key: publicKey() },
    });
    const id = done.id as string;
    return [
      { id, device: `${name}-1`, token: done.session_token as string },
      { id, device: `${name}-2`, token: second.session_token as string },
    ];
  };

  const [a1, a2] = await signUp("bench_alice");
  const [b1, b2] = await signUp("bench_bob");
  const devices = [a1!, a2!, b1!, b2!];
  const conversation = (await call("POST", "/api/v1/conversations", a1!.token, { participant_id: b1!.id }))
    .id;
  // ~200 bytes of ciphertext, a 92-byte wrapped key (ephemeral X25519 key + AES-GCM of 32 bytes) per device.
  const bodyFrom = (d: (typeof devices)[number]) => ({
    conversation_id: conversation,
    encrypted_content: b64(200),
    content_type: "text",
    recipient_keys: devices
      .filter((x) => x !== d)
      .map((x) => ({ user_id: x.id, device_id: x.device, encrypted_key: b64(92) })),
  });

  // The limiter allows 100 sends a minute per user, in sliding windows: skip two windows (so the
  // previous one weighs nothing) before either user reaches it.
  const perUser = new Map<string, number>();
  const send = async (d: (typeof devices)[number]) => {
    const n = (perUser.get(d.id) ?? 0) + 1;
    if (n > 90) {
      ctx.skew.seconds += 121;
      perUser.clear();
    }
    perUser.set(d.id, (perUser.get(d.id) ?? 0) + 1);
    return call("POST", "/api/v1/messages", d.token, bodyFrom(d));
  };

  line(
    `POST /messages, sequential, 2 users x 2 devices`,
    quantiles(await timed(LATENCY_N, (i) => send(devices[i % 4]!))),
  );
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < SENDS) await send(devices[next++ % 4]!);
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  line(
    `POST /messages, ${CONCURRENCY} in flight, ${SENDS} sends`,
    `${(SENDS / seconds).toFixed(0)} messages/s`,
  );

  // Histories stored directly: a fresh conversation each, keys for the device that reads.
  const reader = b1!;
  const history = async (size: number): Promise<[string, () => Promise<unknown>][]> => {
    const id = (
      await call("POST", "/api/v1/conversations/groups", a1!.token, {
        name: `history ${size}`,
        participant_ids: [b1!.id],
      })
    ).id as string;
    const conversationId = new ObjectId(id);
    const sender = new ObjectId(a1!.id);
    const readerId = new ObjectId(reader.id);
    const db = ctx.store.db;
    const BATCH = 1_000;
    const insertStart = performance.now();
    const into = {
      conversation: conversationId,
      sender,
      senderDevice: a1!.device,
      reader: readerId,
      readerDevice: reader.device,
    };
    for (let from = 0; from < size; from += BATCH) {
      const { docs, keys } = storedMessages(into, from + 1, Math.min(size, from + BATCH));
      await messages.col(db).insertMany(docs, { ordered: false });
      await messageKeys.col(db).insertMany(keys, { ordered: false });
    }
    const insertSeconds = (performance.now() - insertStart) / 1000;
    await conversations
      .col(db)
      .updateOne({ _id: conversationId }, { $set: { seq: size, message_count: size } });
    await members
      .col(db)
      .updateMany({ conversation_id: conversationId }, { $set: { joined_seq: 0, base_count: 0 } });
    line(
      `raw insertMany, ${size} messages + ${size} keys`,
      `${((2 * size) / insertSeconds).toFixed(0)} docs/s`,
    );

    const ids = await messages
      .col(db)
      .find({ conversation_id: conversationId, seq: { $in: [Math.floor(size / 2)] } })
      .toArray();
    const middle = ids[0]!._id.toHexString();
    const pageAt = (at: string, q: string) => () =>
      callAt(at, "GET", `/api/v1/messages/conversations/${id}/messages?limit=50${q}`, reader.token);
    const page = (q: string) => pageAt(base, q);
    // The query the page needs: the newest 51 below a position, as messageRange sends it.
    const raw = (below: number) => () =>
      messages
        .col(db)
        .find({ conversation_id: conversationId, seq: { $gt: 0, $lt: below } })
        .sort({ seq: -1 })
        .limit(51)
        .toArray();
    const half = Math.floor(size / 2);
    // Every query of the newest page, sent together as the page sends them: the session (the
    // access token names it), the conversation, the membership, the messages and their keys.
    const sid = new ObjectId(
      JSON.parse(Buffer.from(reader.token.split(".")[1]!, "base64url").toString()).sid,
    );
    const all = { $gt: 0, $lt: Number.MAX_SAFE_INTEGER };
    const five = () =>
      Promise.all([
        authSessions
          .col(db)
          .findOne(
            { _id: sid },
            { projection: { user_id: 1, device_id: 1, expires_at: 1, suspended_at: 1 } },
          ),
        conversations.col(db).findOne({ _id: conversationId }),
        members.col(db).findOne({ conversation_id: conversationId, user_id: readerId }),
        raw(size + 1)(),
        messageKeys
          .col(db)
          .find({ conversation_id: conversationId, user_id: readerId, device_id: reader.device, seq: all })
          .sort({ seq: -1 })
          .limit(51)
          .toArray(),
      ]);
    const apart: [string, () => Promise<unknown>][] = ctx.apart
      ? [
          [`GET history, newest 50 of ${size}${APART}`, pageAt(ctx.apart, "")],
          [`GET history, 50 before the middle of ${size}${APART}`, pageAt(ctx.apart, `&before=${middle}`)],
        ]
      : [];
    return [
      [`GET history, newest 50 of ${size}`, page("")],
      [`raw find, newest 51 of ${size} (driver, no HTTP)`, raw(size + 1)],
      [`raw finds, the newest page's 5 of ${size}, together`, five],
      [`GET history, 50 before the middle of ${size}`, page(`&before=${middle}`)],
      [`raw find, 51 before the middle of ${size} (driver, no HTTP)`, raw(half)],
      [
        `raw findOne by _id among ${size} (driver, no HTTP)`,
        () => messages.col(db).findOne({ _id: ids[0]!._id }),
      ],
      ...apart,
    ];
  };
  // Every history is stored first, then each read is timed BENCH_HISTORY_N times a round, each
  // size in turn, for BENCH_HISTORY_ROUNDS rounds: a drift in the machine's speed during the run
  // falls on every size alike. Each read runs 10 times untimed first (the JIT, the store's caches;
  // a page at the middle cursor learns its position there, as a client paging back finds it known).
  const reads = [];
  for (const size of SIZES) reads.push(await history(size));
  for (const [, read] of reads.flat()) await timed(10, read);
  const n = Number(process.env.BENCH_HISTORY_N ?? 30);
  const rounds = Number(process.env.BENCH_HISTORY_ROUNDS ?? 3);
  const samples = new Map<string, number[]>();
  for (let r = 0; r < rounds; r++)
    for (const [label, read] of reads.flat())
      samples.set(label, [...(samples.get(label) ?? []), ...(await timed(n, read))]);
  const p50 = (label: string) => median(samples.get(label)!);
  for (const [i, size] of SIZES.entries()) {
    for (const [label] of reads[i]!) line(label, quantiles(samples.get(label)!));
    line(
      `  newest 50 of ${size}: page ÷ its 5 raw finds, p50`,
      `${(p50(`GET history, newest 50 of ${size}`) / p50(`raw finds, the newest page's 5 of ${size}, together`)).toFixed(2)}×`,
    );
    for (const where of ctx.apart ? ["", APART] : [""])
      for (const [page, find] of [
        [`GET history, newest 50 of ${size}${where}`, `raw find, newest 51 of ${size} (driver, no HTTP)`],
        [
          `GET history, 50 before the middle of ${size}${where}`,
          `raw find, 51 before the middle of ${size} (driver, no HTTP)`,
        ],
      ] as const)
        line(
          `  ${page.replace("GET history, ", "")}: page ÷ raw find, p50`,
          `${(p50(page) / p50(find)).toFixed(2)}×`,
        );
  }
  if (SIZES.length > 1) {
    const [small, big] = [SIZES[0]!, SIZES.at(-1)!];
    for (const which of ["newest 50", "50 before the middle"])
      line(
        `GET history, ${which}: ${big} ÷ ${small}, p50`,
        `${(p50(`GET history, ${which} of ${big}`) / p50(`GET history, ${which} of ${small}`)).toFixed(2)}×`,
      );
  }
  return { call, send, devices, conversation: conversation as string };
}
export type MessagingBench = Awaited<ReturnType<typeof benchMessages>>;
