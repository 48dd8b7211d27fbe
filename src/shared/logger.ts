/** Structured JSON logs, one object a line. Secrets never reach the output: see `redact`. */
export type Level = "debug" | "info" | "warn" | "error";
export type LogLevel = Level | "silent";
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

const order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 };
// Field names whose values are never written, whatever the caller passes.
const secret = /token|otp|code|secret|password|authorization|cookie|key|content|signature/i;

export function redact(value: unknown, depth = 0): unknown {
  if (depth > 4 || value === null || typeof value !== "object") return value;
  if (value instanceof Error) return { name: value.name, message: value.message, stack: value.stack };
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [k, secret.test(k) ? "[redacted]" : redact(v, depth + 1)]),
  );
}

export function createLogger(
  level: LogLevel,
  write: (line: string) => void = (l) => process.stdout.write(l),
): Logger {
  const log = (lvl: Level) => (msg: string, fields?: Record<string, unknown>) => {
    if (order[lvl] < order[level]) return;
    const entry = {
      time: new Date().toISOString(),
      level: lvl,
      msg,
      ...(fields ? (redact(fields) as object) : {}),
    };
    write(`${JSON.stringify(entry)}\n`);
  };
  return { debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") };
}
