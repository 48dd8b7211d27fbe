import { readFileSync } from "node:fs";

/** What /proc says of a process (Linux only). */
const TICK = 100; // clock ticks a second (USER_HZ)

/** CPU seconds the process has used so far, user and system. */
export const cpuSeconds = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(f[11]) + Number(f[12])) / TICK; // utime, stime
};

/** The process's resident memory. */
export const rssMiB = (pid: number) => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m![1]) / 1024;
};

/** CPU milliseconds these processes used together while `run` ran. */
export async function cpuWhile(pids: number[], run: () => Promise<unknown>) {
  const before = pids.map(cpuSeconds);
  await run();
  return 1000 * pids.map((p, i) => cpuSeconds(p) - before[i]!).reduce((a, b) => a + b, 0);
}
