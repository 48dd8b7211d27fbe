import type { Deps } from "../deps.js";

/**
 * Erases every document whose `expires_at` has passed, in every collection whose owner says its
 * documents expire. It runs on both stores: the local store has no TTL indexes, and MongoDB's TTL
 * monitor is only a late backstop (see src/db/store.ts).
 */
export async function sweepOnce(deps: Deps): Promise<number> {
  const now = deps.clock.now();
  let erased = 0;
  for (const c of deps.inventory) {
    if (!c.expires) continue;
    const deletedCount = c.sweep
      ? await c.sweep(deps.store.db, now)
      : (await c.col(deps.store.db).deleteMany({ expires_at: { $lte: now } })).deletedCount;
    if (deletedCount)
      deps.metrics.inc(
        "sweeper_erased_total",
        "Expired documents erased by the sweeper",
        { collection: c.name },
        deletedCount,
      );
    erased += deletedCount;
  }
  return erased;
}

export function startSweeper(deps: Deps) {
  let running = false;
  const timer = setInterval(async () => {
    if (running) return;
    running = true;
    try {
      await sweepOnce(deps);
    } catch (err) {
      deps.logger.warn("sweep failed", { error: err });
    } finally {
      running = false;
    }
  }, deps.config.SWEEP_INTERVAL_MS);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
