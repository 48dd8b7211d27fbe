import type { Deps } from "../deps.js";
import { abandonedSends, takeOver } from "./client-ids.js";
import { finishSend } from "./send-steps.js";

const BATCH = 100;

/**
 * Finishes sends that no client retries: those whose process died (or stalls) past its lease.
 * Each is taken by a compare-and-set on its lease, so processes running this at once share the
 * work and never finish one send twice at the same time (finishing twice in turn is harmless: every
 * step is idempotent). A send that fails again is left for the next run. Returns how many it finished.
 */
export async function recoverSends(deps: Deps, now: Date): Promise<number> {
  let finished = 0;
  for (const record of await abandonedSends(deps, now, BATCH)) {
    const taken = await takeOver(deps, record);
    if (!taken) continue;
    try {
      await finishSend(deps, taken, true);
      finished++;
    } catch (err) {
      deps.logger.warn("an interrupted send could not be finished yet", {
        message_id: record.message_id.toHexString(),
        error: err,
      });
    }
  }
  return finished;
}
