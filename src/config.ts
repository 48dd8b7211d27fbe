import { createECDH, randomBytes } from "node:crypto";
import { z } from "zod";
import { parseTrustProxy, type TrustProxy } from "./http/client-ip.js";

/** The most `ATTACHMENT_MAX_BYTES` may be: the spec's bound on an attachment's size. */
export const ATTACHMENT_BYTES_CEILING = 16 * 1024 ** 3;
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

function validP256Scalar(key: string) {
  try {
    createECDH("prime256v1").setPrivateKey(Buffer.from(key, "base64url"));
    return true;
  } catch {
    return false;
  }
}

/** Every setting Hush reads, with its default. The entry file is the only caller of `loadConfig`. */
const envSchema = z.object({
  NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
  PORT: int(0, 65535).default(8000),
  HOST: z.string().min(1).default("0.0.0.0"),
  MONGODB_URI: z
    .string()
    .regex(/^mongodb(\+srv)?:\/\//, "must start with mongodb:// or mongodb+srv://")
    .optional(),
  MONGODB_DB: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,63}$/, "letters, digits, _ and - only")
    .default("hush"),
  DATA_DIR: z.string().min(1).default("./data"),
  /**
   * How long one store operation may wait for the store's answer before the request answers 503
   * STORE_UNAVAILABLE (the driver's socket timeout; docs/durability.md, "When the store fails").
   */
  STORE_TIMEOUT_MS: int(500, 120_000).default(10_000),
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error", "silent"]).default("info"),
  SMTP_URL: z
    .string()
    .regex(/^smtps?:\/\//, "must start with smtp:// or smtps://")
    .optional(),
  MAIL_FROM: z.string().min(3).default("Hush <no-reply@hush.local>"),
  JWT_SECRET: z.string().min(32, "must be at least 32 characters").optional(),
  ACCESS_TOKEN_TTL: int(60, 86_400).default(900),
  REFRESH_TOKEN_TTL: int(3_600, 365 * 86_400).default(30 * 86_400),
  OTP_TTL: int(60, 3_600).default(300),
  MAX_DEVICES: int(1, 100).default(6),
  /** Who may create an account: anyone, holders of an invite code, or nobody (docs/abuse.md, "Who may sign up"). */
  REGISTRATION: z.enum(["open", "invite", "closed"]).default("open"),
  /** Comma-separated email domains sign-up is limited to, in every mode; empty means any. */
  REGISTRATION_EMAIL_DOMAINS: z
    .string()
    .default("")
    .transform((v) =>
      v
        .split(",")
        .map((d) => d.trim().toLowerCase().replace(/^@/, ""))
        .filter(Boolean),
    )
    .pipe(z.array(z.string().regex(/^[a-z0-9.-]+\.[a-z]{2,}$/, "each must be a domain like example.com"))),
  TRUST_PROXY: z
    .string()
    .default("false")
    .transform((v, ctx): TrustProxy => {
      const parsed = parseTrustProxy(v);
      if (typeof parsed === "string") {
        ctx.addIssue({ code: "custom", message: parsed });
        return z.NEVER;
      }
      return parsed;
    }),
  MAX_BODY_BYTES: int(1_024, 64 * 1024 * 1024).default(1024 * 1024),
  PUBLIC_BODY_BYTES: int(256, 1024 * 1024).default(16 * 1024),
  HEADERS_TIMEOUT_MS: int(500, 120_000).default(10_000),
  REQUEST_TIMEOUT_MS: int(500, 600_000).default(30_000),
  KEEP_ALIVE_TIMEOUT_MS: int(100, 600_000).default(5_000),
  IDLE_TIMEOUT_MS: int(500, 3_600_000).default(60_000),
  METRICS_TOKEN: z.string().min(16, "must be at least 16 characters").optional(),
  SWEEP_INTERVAL_MS: int(100, 3_600_000).default(5_000),
  TTL_BACKSTOP_SECONDS: int(60, 30 * 86_400).default(3_600),
  /** How often the message expiry job looks for messages past their expires_at. */
  EXPIRY_INTERVAL_MS: int(100, 3_600_000).default(1_000),
  /** Test only (refused in production): the process kills itself at this step boundary (Deps.checkpoint). */
  TEST_CRASH_AT: z.string().min(1).optional(),
  /** Test only (refused in production): the clock runs this far ahead, as a restart later would find it. */
  TEST_CLOCK_OFFSET_MS: z.coerce
    .number()
    .int()
    .min(0)
    .max(365 * 86_400_000)
    .default(0),
  /** Messages erased per claimed batch: bounds each step's memory and each write's size. */
  EXPIRY_BATCH: int(1, 10_000).default(500),
  /** A view-once message's ciphertext is erased this long after sending, opened or not. */
  VIEW_ONCE_CAP_SECONDS: int(60, 365 * 86_400).default(14 * 86_400),
  /** A wrapped key its device never confirmed receiving is erased this long after sending. */
  UNDELIVERED_RETENTION_SECONDS: int(3_600, 365 * 86_400).default(30 * 86_400),
  /** A tombstone (deleted for everyone, or an erased view-once) is kept this long, then erased. */
  TOMBSTONE_RETENTION_SECONDS: int(60, 365 * 86_400).default(30 * 86_400),
  ATTACHMENT_MAX_BYTES: int(1_024, ATTACHMENT_BYTES_CEILING).default(100 * 1024 * 1024),
  ATTACHMENT_QUOTA_BYTES: int(1_024, 1024 ** 4).default(1024 ** 3),
  ATTACHMENT_TTL: int(60, 30 * 86_400).default(86_400),
  STREAM_RETENTION_SECONDS: int(3_600, 365 * 86_400).default(30 * 86_400),
  WS_HEARTBEAT_MS: int(100, 600_000).default(30_000),
  WS_MAX_BUFFERED_BYTES: int(16 * 1024, 64 * 1024 * 1024).default(1024 * 1024),
  WS_MESSAGES_PER_MINUTE: int(1, 100_000).default(200),
  WS_MAX_SOCKETS_PER_USER: int(1, 10_000).default(20),
  /** At most one Web Push wake-up per device in this many seconds, unless it connected since (docs/push.md). */
  PUSH_MIN_INTERVAL_SECONDS: int(1, 86_400).default(60),
  /** The VAPID `sub` claim: how a push service's operator reaches this server's (mailto: or https:). */
  PUSH_CONTACT: z
    .string()
    .regex(/^(mailto:|https:\/\/)\S+$/, "must be a mailto: or https:// URI")
    .default("mailto:admin@hush.local"),
  /** The VAPID signing key (a P-256 private scalar, base64url); unset, one is made and kept in the database. */
  VAPID_PRIVATE_KEY: z
    .string()
    .regex(/^[A-Za-z0-9_-]{43}$/, "must be a P-256 private key: 32 bytes, base64url")
    .refine(validP256Scalar, "must be a P-256 private key: 32 bytes, base64url")
    .optional(),
  /** Development and tests only (refused in production): push endpoints may be http:// and private addresses. */
  PUSH_ALLOW_PRIVATE: z
    .enum(["true", "false"])
    .default("false")
    .transform((v) => v === "true"),
  /** How long one push request may take before it counts as failed (and is retried). */
  PUSH_TIMEOUT_MS: int(100, 60_000).default(10_000),
});

export type Env = z.infer<typeof envSchema>;
export interface Config extends Omit<Env, "JWT_SECRET"> {
  JWT_SECRET: string;
  /** True when the secret was generated at start-up: tokens die with the process. */
  generatedSecret: boolean;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/** Parses the environment once; every bad variable is named in the thrown ConfigError. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ""));
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`));
  }
  const e = parsed.data;
  if (e.HEADERS_TIMEOUT_MS > e.REQUEST_TIMEOUT_MS) {
    throw new ConfigError([
      "HEADERS_TIMEOUT_MS: must not exceed REQUEST_TIMEOUT_MS (headers are part of the request)",
    ]);
  }
  if (e.NODE_ENV === "production") {
    const problems: string[] = [];
    if (!e.JWT_SECRET)
      problems.push("JWT_SECRET: required in production (a generated secret is for development)");
    if (!e.SMTP_URL)
      problems.push("SMTP_URL: required in production (the console mailer is for development)");
    if (e.TEST_CRASH_AT || e.TEST_CLOCK_OFFSET_MS)
      problems.push("TEST_CRASH_AT, TEST_CLOCK_OFFSET_MS: test hooks, refused in production");
    if (e.PUSH_ALLOW_PRIVATE)
      problems.push(
        "PUSH_ALLOW_PRIVATE: refused in production (push endpoints must be public https:// URLs)",
      );
    if (problems.length) throw new ConfigError(problems);
  }
  return {
    ...e,
    JWT_SECRET: e.JWT_SECRET ?? randomBytes(32).toString("base64url"),
    generatedSecret: !e.JWT_SECRET,
  };
}
