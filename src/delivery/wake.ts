import type { ObjectId } from "mongodb";
import type { Deps } from "../deps.js";
import { PushTimeout, postPush, RefusedEndpoint } from "../push/post.js";
import {
  dropSubscription,
  duePushes,
  type PushSubscriptionDoc,
  pushDone,
  pushRetry,
  recordWake,
  subscriptionKey,
  subscriptionsOf,
  takePush,
  vapidPrivateKey,
} from "../push/repo.js";
import { encryptPayload, vapidAuthorization } from "../push/webpush.js";
import { devicesOnline } from "./presence.js";

/*
 * Step 6 of delivery (deliver.ts lists them all): waking a device that has no socket open
 * anywhere, through its Web Push subscription (docs/push.md; the subscriptions and the protocol
 * are src/push/'s). After each append (append.ts), off the send's path: the entries worth
 * a wake-up, for devices with no socket on this process, cost one `_id` read of their
 * subscriptions; only a subscribed device not woken lately costs more (who is online, then the
 * record). A wake-up is recorded before it is sent and held by a lease, so a process that dies
 * leaves it to the sweep (`pushJob`) of any process, and two never send it both.
 */

/** How long the process that records or takes a wake-up has to send it before anyone else may. */
export const LEASE_MS = 30_000;
/** Attempts before a wake-up is given up (429s and 5xx), with backoff from 10 s to an hour. */
export const MAX_ATTEMPTS = 6;
const backoffSeconds = (attempts: number) => Math.min(10 * 2 ** attempts, 3600);
/** How long the push service keeps an undelivered wake-up: a day-old wake-up is still worth it. */
const TTL_SECONDS = 86_400;

/** An appended entry, as much of it as deciding on a wake-up needs. */
export interface Appended {
  user_id: ObjectId;
  device_id: string;
  type: string;
  data: unknown;
  position: number;
}

/**
 * What a person would want to be woken for: a message from someone else; someone asking to be a contact, or
 * accepting; a device added to their own account (or its key reset). Not receipts, edits,
 * deletions, expiries, typing or others' identity changes: those can wait until the app opens.
 */
export function worthWaking(e: Appended): boolean {
  const data = e.data as { status?: string; user_id?: string; message?: { sender_id: string | null } };
  // A message the account itself sent (from another of its devices) is no news to wake for.
  if (e.type === "new_message") return data.message?.sender_id !== e.user_id.toHexString();
  if (e.type === "contacts_updated") return data.status === "incoming" || data.status === "accepted";
  if (e.type === "devices_changed") return data.user_id === e.user_id.toHexString();
  return false;
}

/** Sends in flight on this process (deps.wakes): shutdown and tests wait for them. */
function track(deps: Deps, p: Promise<unknown>) {
  const tracked = p.catch((err) => deps.logger.warn("push wake-up failed", { error: err }));
  deps.wakes.add(tracked);
  void tracked.finally(() => deps.wakes.delete(tracked));
}
export async function settlePushes(deps: Deps) {
  while (deps.wakes.size) await Promise.all([...deps.wakes]);
}

/**
 * After an append: records (and sends) a wake-up for every device that got an entry worth one,
 * has a subscription, was not woken lately and has no socket open on any process.
 */
export function wakeSleepers(deps: Deps, appended: Appended[]) {
  const latest = new Map<string, Appended>();
  for (const e of appended) {
    const key = subscriptionKey(e.user_id, e.device_id);
    if (deps.sockets.has(key) || !worthWaking(e)) continue;
    if ((latest.get(key)?.position ?? -1) < e.position) latest.set(key, e);
  }
  if (latest.size) track(deps, wake(deps, latest));
}

async function wake(deps: Deps, latest: Map<string, Appended>) {
  const now = deps.clock.now();
  const since = now.getTime() - deps.config.PUSH_MIN_INTERVAL_SECONDS * 1000;
  const asleep = (await subscriptionsOf(deps, [...latest.keys()])).filter(
    (s) => !s.woken_at || s.woken_at.getTime() <= since,
  );
  if (!asleep.length) return;
  const online = await devicesOnline(
    deps,
    asleep.map((s) => s.user_id),
  );
  // Each device on its own: one slow push service delays no other device's wake-up.
  await Promise.all(
    asleep
      .filter((s) => !online.has(s._id))
      .map(async (s) => {
        const recorded = await recordWake(deps, s, latest.get(s._id)!.position, LEASE_MS);
        if (!recorded) return; // another process recorded it, or the device connected meanwhile
        await deps.checkpoint?.("push.recorded");
        await attempt(deps, recorded);
      }),
  );
}

/**
 * The sweep: wake-ups whose lease passed (a retry now due, or a sender that died), each taken by a
 * compare-and-set on its lease and sent once. Returns how many it took.
 */
export async function sendDuePushes(deps: Deps, now: Date, limit = 100) {
  const due = await duePushes(deps, now, limit);
  if (!due.length) return 0;
  await deps.checkpoint?.("push.take");
  const taken = await Promise.all(
    due.map(async (doc) => {
      const mine = await takePush(deps, doc, LEASE_MS);
      if (mine) await attempt(deps, mine);
      return mine ? 1 : 0;
    }),
  );
  return taken.reduce<number>((n, t) => n + t, 0);
}

/**
 * The sweep, on every process every EXPIRY_INTERVAL_MS: a Job (src/jobs/jobs.ts, started by
 * src/index.ts), written out so that delivery needs nothing from the jobs above it.
 */
export const pushJob = {
  name: "push",
  everyMs: (deps: Deps) => deps.config.EXPIRY_INTERVAL_MS,
  run: async (deps: Deps, now: Date): Promise<Record<string, number>> => {
    await sendDuePushes(deps, now);
    return {};
  },
};

/** One attempt at a recorded wake-up this process holds; the push service's answer decides what next. */
async function attempt(deps: Deps, doc: PushSubscriptionDoc) {
  const count = (name: string, help: string, labels: Record<string, string> = {}) =>
    deps.metrics.inc(name, help, labels);
  const failed = (reason: string) => count("push_failed_total", "Web Push wake-ups that failed", { reason });
  const drop = async (reason: string) => {
    await dropSubscription(deps, doc);
    count("push_subscriptions_dropped_total", "Push subscriptions deleted on delivery", { reason });
  };
  const retry = async (reason: string, after: number | null) => {
    failed(reason);
    const attempts = (doc.attempts ?? 0) + 1;
    if (attempts >= MAX_ATTEMPTS) {
      failed("gave_up");
      return pushDone(deps, doc);
    }
    const seconds = Math.min(after ?? backoffSeconds(attempts - 1), 3600);
    await pushRetry(deps, doc, new Date(deps.clock.now().getTime() + seconds * 1000));
  };
  let answer: Awaited<ReturnType<typeof postPush>>;
  try {
    answer = await send(deps, doc);
  } catch (err) {
    if (err instanceof RefusedEndpoint) return drop("refused_address");
    return retry(err instanceof PushTimeout ? "timeout" : "network", null);
  }
  const { status } = answer;
  if (status >= 200 && status < 300) {
    count("push_sent_total", "Web Push wake-ups the push service accepted");
    return pushDone(deps, doc);
  }
  if (status === 404 || status === 410) return drop("gone");
  if (status === 429 || status >= 500) return retry(String(status), answer.retryAfter);
  // Anything else (a redirect, 400, 403 for a VAPID key the service does not know, 413) will not
  // get better by trying again.
  failed(String(status));
  return pushDone(deps, doc);
}

async function send(deps: Deps, doc: PushSubscriptionDoc) {
  const payload = Buffer.from(JSON.stringify({ v: 1, position: doc.position ?? 0 }));
  const key = await vapidPrivateKey(deps);
  const headers = {
    authorization: await vapidAuthorization(key, doc.endpoint, deps.config.PUSH_CONTACT, deps.clock.now()),
    "content-encoding": "aes128gcm",
    "content-type": "application/octet-stream",
    ttl: String(TTL_SECONDS),
    urgency: "high",
    // A later wake-up replaces one the push service still holds: a device gets one, not a queue.
    topic: "wake",
  };
  return postPush(doc.endpoint, headers, encryptPayload(payload, doc.p256dh, doc.auth), {
    allowPrivate: deps.config.PUSH_ALLOW_PRIVATE,
    timeoutMs: deps.config.PUSH_TIMEOUT_MS,
  });
}
