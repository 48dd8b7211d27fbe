import { finishDeparture, finishJoin } from "../conversations/members.js";
import { finishCreate, finishSetting } from "../conversations/settings.js";
import type { Deps } from "../deps.js";
import { AppError } from "../http/errors.js";
import { finishLink } from "../linking/link.js";
import { finishDelete } from "../messages/actions.js";
import { abandonedSends, takeOver } from "../messages/client-ids.js";
import { finishEdit } from "../messages/edit.js";
import { finishSend } from "../messages/send-steps.js";
import { finishOpen } from "../messages/view-once.js";
import { abandonedOps, type OpDoc, type OpKind, takeOp } from "../recovery/ops.js";
import { finishErasure } from "../users/repo.js";
import type { Job } from "./jobs.js";

/** Each kind of recorded operation, finished by its owner's own steps. */
const finishers: Record<OpKind, (deps: Deps, op: OpDoc) => Promise<unknown>> = {
  edit: finishEdit,
  delete: finishDelete,
  open: finishOpen,
  depart: finishDeparture,
  join: finishJoin,
  create: finishCreate,
  setting: finishSetting,
  erase_account: finishErasure,
  link: finishLink,
};

const BATCH = 100;

/**
 * Finishes the records (of sends: src/messages/client-ids.ts; of operations: src/recovery/ops.ts)
 * whose process died or stalls past its lease. Each is taken by a compare-and-set on its lease, so
 * processes running this at once share the work and never finish one at the same time (finishing
 * one twice in turn is harmless: every step is idempotent); one that fails again keeps the lease
 * it took, so it is tried again once that passes. Returns how many it finished.
 */
async function sweep<T extends { lease_until?: Date }>(
  deps: Deps,
  lapsed: T[],
  take: (record: T) => Promise<T | null> | null,
  finish: (record: T) => Promise<unknown>,
  what: (record: T) => string,
) {
  let finished = 0;
  for (const record of lapsed) {
    const taken = await take(record);
    if (!taken) continue;
    try {
      await finish(taken);
      finished++;
    } catch (err) {
      // An open whose key was never read ends in 410 for nobody: it is finished all the same.
      if (err instanceof AppError && err.code === "VIEW_ONCE_OPENED") finished++;
      else
        deps.logger.warn("an interrupted write could not be finished yet", {
          write: what(record),
          error: err,
        });
    }
  }
  return finished;
}

export const recoverSends = async (deps: Deps, now: Date) =>
  sweep(
    deps,
    await abandonedSends(deps, now, BATCH),
    (r) => takeOver(deps, r),
    (r) => finishSend(deps, r, true),
    (r) => `send ${r.message_id.toHexString()}`,
  );

export const recoverOps = async (deps: Deps, now: Date) =>
  sweep(
    deps,
    await abandonedOps(deps, now, BATCH),
    (op) => takeOp(deps, op),
    (op) => finishers[op.kind](deps, op),
    (op) => op.kind,
  );

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
