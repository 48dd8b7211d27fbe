import type { AnyOwned } from "../db/owned.js";
import type { Deps } from "../deps.js";
import { capViewOnce } from "../messages/expiry.js";

/** One scheduled job: what it erased in a run, per collection. */
export interface Job {
  name: string;
  everyMs: (deps: Deps) => number;
  run(deps: Deps, now: Date): Promise<Record<string, number>>;
}

/**
 * One job per expiring collection, from the inventory: a collection whose owner declares its own
 * expiry step (messages: keys, counters, events) runs it; any other has its documents past
 * `expires_at` deleted (OTP sessions, spent refresh tokens, rate-limit windows, undelivered keys,
 * stream entries past retention: whatever an owner declares expiring is picked up here). Neither
 * store's TTL monitor is relied on: on MongoDB a TTL index is only a late backstop (src/db/store.ts).
 */
export function expiryJobs(inventory: readonly AnyOwned[]): Job[] {
  const perCollection = inventory
    .filter((c) => c.expires)
    .map(
      (c): Job => ({
        name: `expire:${c.name}`,
        // Disappearing messages are due within seconds of their expiry; the rest may wait a sweep.
        everyMs: (deps) => (c.expire ? deps.config.EXPIRY_INTERVAL_MS : deps.config.SWEEP_INTERVAL_MS),
        async run(deps, now) {
          if (c.expire) return { [c.name]: await c.expire(deps, now) };
          const { deletedCount } = await c.col(deps.store.db).deleteMany({ expires_at: { $lte: now } });
          return { [c.name]: deletedCount };
        },
      }),
    );
  const viewOnce: Job = {
    name: "view-once-cap",
    everyMs: (deps) => deps.config.SWEEP_INTERVAL_MS,
    run: async (deps, now) => ({ messages: await capViewOnce(deps, now) }),
  };
  return [...perCollection, viewOnce];
}

/** Runs one job once and reports what it erased on /metrics. */
export async function runJob(deps: Deps, job: Job) {
  const erased = await job.run(deps, deps.clock.now());
  deps.metrics.inc("expiry_job_runs_total", "Runs of each expiry job", { job: job.name });
  let total = 0;
  for (const [collection, n] of Object.entries(erased)) {
    total += n;
    if (n)
      deps.metrics.inc(
        "expiry_erased_total",
        "Documents erased (for the view-once cap: ciphertexts) by each expiry job",
        { job: job.name, collection },
        n,
      );
  }
  return total;
}

/** Every expiry job once, in order (tests and the bench call this; the runner schedules them). */
export async function sweepOnce(deps: Deps): Promise<number> {
  let total = 0;
  for (const job of expiryJobs(deps.inventory)) total += await runJob(deps, job);
  return total;
}
