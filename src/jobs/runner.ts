import type { Deps } from "../deps.js";
import { type Job, runJob } from "./jobs.js";

/**
 * Runs each job on its own schedule: the next run is set when the last one ends, so a slow run is
 * never overlapped by the next. `stop()` cancels what is scheduled and waits for runs in flight.
 */
export function startJobs(deps: Deps, jobs: Job[]) {
  let stopped = false;
  const timers = new Set<NodeJS.Timeout>();
  const running = new Set<Promise<void>>();

  const schedule = (job: Job) => {
    if (stopped) return;
    const timer = setTimeout(() => {
      timers.delete(timer);
      const run: Promise<void> = runJob(deps, job)
        .then(() => undefined)
        .catch((err) => {
          deps.metrics.inc("expiry_job_failures_total", "Expiry job runs that failed", { job: job.name });
          deps.logger.warn("expiry job failed", { job: job.name, error: err });
        })
        .finally(() => {
          running.delete(run);
          schedule(job);
        });
      running.add(run);
    }, job.everyMs(deps));
    timer.unref();
    timers.add(timer);
  };
  for (const job of jobs) schedule(job);

  return {
    async stop() {
      stopped = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      await Promise.all([...running]);
    },
  };
}
