import { finishDeparture, finishJoin } from "../conversations/members.js";
import type { Deps } from "../deps.js";
import { finishLink } from "../linking/index.js";
import { finishDelete } from "../messages/actions.js";
import { finishEdit } from "../messages/edit.js";
import { recoverSends } from "../messages/recovery.js";
import { finishOpen } from "../messages/view-once.js";
import { abandonedOps, type OpDoc, type OpKind, takeOp } from "../recovery/ops.js";
import { AppError } from "../shared/errors.js";
import { finishErasure } from "../users/repo.js";
import type { Job } from "./jobs.js";

/** Each kind of recorded operation, finished by its owner's own steps. */
const finishers: Record<OpKind, (deps: Deps, op: OpDoc) => Promise<unknown>> = {
  edit: finishEdit,
  delete: finishDelete,
  open: finishOpen,
  depart: finishDeparture,
  join: finishJoin,
  erase_account: finishErasure,
  link: finishLink,
};

const BATCH = 100;

/**
 * Finishes the operations (src/recovery/ops.ts) whose process died or stalls past its lease. Each
 * is taken by a compare-and-set on its lease, so several processes share the work; one that fails
 * again is left for the next run. Returns how many it finished.
 */
export async function recoverOps(deps: Deps, now: Date): Promise<number> {
  let finished = 0;
  for (const op of await abandonedOps(deps, now, BATCH)) {
    const taken = await takeOp(deps, op);
    if (!taken) continue;
    try {
      await finishers[op.kind](deps, taken);
      finished++;
    } catch (err) {
      // An open whose key was never read ends in 410 for nobody: it is finished all the same.
      if (err instanceof AppError && err.code === "VIEW_ONCE_OPENED") finished++;
      else
        deps.logger.warn("an interrupted operation could not be finished yet", { kind: op.kind, error: err });
    }
  }
  return finished;
}

/** Sends and operations whose process died are finished within seconds, on any process. */
export const recoveryJob: Job = {
  name: "recover",
  everyMs: (deps) => deps.config.EXPIRY_INTERVAL_MS,
  async run(deps, now) {
    const sends = await recoverSends(deps, now);
    const ops = await recoverOps(deps, now);
    if (sends + ops)
      deps.metrics.inc(
        "writes_recovered_total",
        "Interrupted writes finished by the recovery sweep",
        {},
        sends + ops,
      );
    return {};
  },
};
