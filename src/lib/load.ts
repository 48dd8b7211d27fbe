/**
 * Live work under way in this process: HTTP requests and socket events being handled. Background
 * work asks it when to go: the message expiry job waits for a gap between them and takes a smaller
 * batch while they come (docs/performance.md, "The message expiry job"), so that a send waits
 * behind a small batch at most.
 */
export interface Load {
  /** `work`, counted as live until it settles. */
  track<T>(work: Promise<T>): Promise<T>;
  /** Whether live work is under way now. */
  busy(): boolean;
  /**
   * How many pieces of live work have started so far: a job compares two readings to learn whether
   * any came (and perhaps went) in between, which `busy()` at one instant can miss.
   */
  started(): number;
  /** Resolves once no live work is under way, or after `maxMs`, whichever comes first. */
  quiet(maxMs: number): Promise<void>;
}

export function createLoad(): Load {
  let live = 0;
  let started = 0;
  const waiting = new Set<() => void>();
  const settled = () => {
    if (--live > 0) return;
    for (const wake of waiting) wake();
    waiting.clear();
  };
  return {
    track(work) {
      live++;
      started++;
      return work.finally(settled);
    },
    busy: () => live > 0,
    started: () => started,
    quiet(maxMs) {
      if (live === 0) return Promise.resolve();
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          waiting.delete(wake);
          resolve();
        }, maxMs);
        const wake = () => {
          clearTimeout(timer);
          resolve();
        };
        waiting.add(wake);
      });
    },
  };
}
