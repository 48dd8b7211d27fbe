import { pino } from "pino";

/** Structured JSON logs (pino), one object a line. Secrets never reach the output: see `redact`. */
export type Level = "debug" | "info" | "warn" | "error";
export type LogLevel = Level | "silent";
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /** A logger whose every line also carries `bindings` (redacted like any field). */
  child(bindings: Record<string, unknown>): Logger;
}

// Field names whose values are never written, at any depth, whatever the caller passes.
const secretKey =
  /token|otp|code|secret|password|passwd|authorization|cookie|key|content|signature|ciphertext|wrapped|encrypted|preview/i;
// Secrets that can hide inside free text: error messages, stacks, URLs.
const opaque = (run: string) => (/\d/.test(run) && /[A-Z]/.test(run) && /[a-z]/.test(run) ? "[opaque]" : run);
const secretText: [RegExp, string | ((run: string) => string)][] = [
  [/\beyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*/g, "[jwt]"], // JWTs (access and sign-up tokens)
  [/\brt_[\w-]{16,}/g, "[refresh-token]"],
  [/\b(bearer)\s+\S+/gi, "$1 [redacted]"],
  [/([?&](?:token|temp_token|otp|code)=)[^&\s"]+/gi, "$1[redacted]"],
  [/\b(code|otp)(\D{0,12})\d{6}\b/gi, "$1$2[code]"],
  [/[A-Za-z0-9+/_-]{40,}={0,2}/g, opaque], // base64 keys, ciphertext (paths and hex ids stay)
];
const MAX_DEPTH = 12;

// Something each pattern above needs (the last one, 40 characters): short text without any of it,
// most of what is logged, is left as is after one cheap test instead of six replaces.
const maybeSecret = /eyJ|rt_|bearer|=|\d{6}/i;

export function scrub(text: string): string {
  if (text.length < 40 && !maybeSecret.test(text)) return text;
  return secretText.reduce((s, [re, to]) => s.replace(re, to as string), text);
}

/** A copy of `value` with secret-named fields replaced and secret-looking text scrubbed. */
export function redact(value: unknown, depth = 0, seen?: WeakSet<object>): unknown {
  if (typeof value === "string") return scrub(value);
  if (value === null || typeof value !== "object") return value;
  if (depth >= MAX_DEPTH) return "[too deep]";
  if (depth > 0) {
    // Only nested objects can form a cycle; a flat log line never allocates the set.
    if (seen?.has(value)) return "[circular]";
    seen?.add(value);
  }
  const inner = () => (seen ??= new WeakSet<object>([value]));
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1, inner()));
  const entries = Object.entries(value);
  if (value instanceof Error) {
    entries.unshift(["name", value.name], ["message", value.message], ["stack", value.stack]);
    if (value.cause !== undefined) entries.push(["cause", value.cause]);
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of entries) {
    if (secretKey.test(k)) out[k] = "[redacted]";
    else if (v === null || typeof v !== "object") out[k] = typeof v === "string" ? scrub(v) : v;
    else out[k] = redact(v, depth + 1, inner());
  }
  return out;
}

export function createLogger(
  level: LogLevel,
  write: (line: string) => void = (l) => process.stdout.write(l),
): Logger {
  const root = pino(
    {
      level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (l) => ({ level: l }) },
    },
    { write },
  );
  const wrap = (p: pino.Logger): Logger => {
    const at = (lvl: Level) => (msg: string, fields?: Record<string, unknown>) => {
      if (!p.isLevelEnabled(lvl)) return;
      p[lvl](fields ? (redact(fields) as object) : {}, scrub(msg));
    };
    return {
      debug: at("debug"),
      info: at("info"),
      warn: at("warn"),
      error: at("error"),
      child: (bindings) => wrap(p.child(redact(bindings) as pino.Bindings)),
    };
  };
  return wrap(root);
}
