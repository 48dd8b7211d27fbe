/**
 * Runs independent steps at once and answers as if they had run in turn: every one is waited for
 * (none is left running behind a failure), and the error that wins is the first in the order they
 * are given, whatever finished first.
 */
export async function together<T extends readonly unknown[]>(
  ...steps: { [K in keyof T]: Promise<T[K]> | T[K] }
): Promise<{ [K in keyof T]: Awaited<T[K]> }> {
  const settled = await Promise.allSettled(steps);
  for (const r of settled) if (r.status === "rejected") throw r.reason;
  return settled.map((r) => (r as PromiseFulfilledResult<unknown>).value) as {
    [K in keyof T]: Awaited<T[K]>;
  };
}

/**
 * A read started before the step that needs it. A step before that one may end the work (a
 * replay, an error): the read's outcome is then not wanted, and must not surface as unhandled.
 */
export function early<T>(read: Promise<T>): Promise<T> {
  read.catch(() => {});
  return read;
}
