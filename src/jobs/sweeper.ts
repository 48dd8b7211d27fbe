import { expiringCollections } from "../db/collections.js";
import type { Deps } from "../deps.js";

/**
 * Erases every document whose `expires_at` has passed. It runs on both stores: FerretDB has no TTL
 * indexes, and MongoDB's TTL monitor only passes once a minute.
 */
export async function sweepOnce(deps: Deps): Promise<number> {
  const now = deps.clock.now();
  let erased = 0;
  for (const name of expiringCollections) {
    const { deletedCount } = await deps.store.db.collection(name).deleteMany({ expires_at: { $lte: now } });
    erased += deletedCount;
  }
  if (erased) deps.metrics.inc("sweeper_erased_total", "Expired documents erased by the sweeper", {}, erased);
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
