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
