import type { Db } from "mongodb";
import { never, owned } from "../db/owned.js";

interface ProbeDoc {
  _id: string;
  at: Date;
  pad: string;
}

export const readinessProbes = owned<ProbeDoc>({
  name: "readiness_probes",
  owner: "ops",
  holds:
    "one document, shared by every server process: when `/readyz` last wrote to the store; no account data",
  indexes: [],
  ...never,
  onAccountDeletion: "nothing: it names no account",
  eraseAccount: async () => {},
});

/**
 * A few pages of filler, so that the probe needs fresh space in the store's files the way a send
 * does: a store out of disk fails the probe no later than it fails the first send.
 */
const pad = "0".repeat(16 * 1024);

/**
 * Writes the probe document and resolves true when the store acknowledged the write
 * within `timeoutMs`; false on any failure, a full disk included, or no answer in time.
 */
export async function probeWrite(db: Db, now: Date, timeoutMs: number) {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((r) => {
    timer = setTimeout(() => r(false), timeoutMs);
  });
  const write = readinessProbes
    .col(db)
    .updateOne({ _id: "readyz" }, { $set: { at: now, pad } }, { upsert: true })
    .then(
      () => true,
      () => false,
    );
  const ok = await Promise.race([write, timeout]);
  clearTimeout(timer);
  return ok;
}
