import type { ObjectId } from "mongodb";
import { isDuplicateKey } from "../db/ids.js";
import { owned } from "../db/owned.js";
import type { Deps } from "../deps.js";
import { AppError } from "../http/errors.js";
import { addSeconds, seconds } from "../lib/clock.js";
import { type HeaderSink, rateHeaders } from "../limits/ratelimit.js";
import { emailExists } from "../users/repo.js";
import { guessCosts } from "./budgets.js";
import { codeHash, codeMatches, newCode, newSessionId, OTP_ATTEMPTS, otpKey } from "./otp.js";

export interface OtpSessionDoc {
  /** 128 random bits, hex: the `session_id` callers hold. */
  _id: string;
  email: string;
  purpose: "signup" | "login";
  /** Keyed hash of the code; the code itself is never stored. Emptied once the code is spent. */
  code_hash: string;
  /** Codes checked against this session so far. */
  attempts: number;
  created_at: Date;
  expires_at: Date;
  verified_at: Date | null;
  /** Sign-up only: when its temp_token created the account (the token works once). */
  completed_at: Date | null;
  /** Sign-up only, in REGISTRATION=invite mode: the invite complete-signup spends (src/invites/). */
  invite_id?: ObjectId | null;
}
export const otpSessions = owned<OtpSessionDoc>({
  name: "otp_sessions",
  owner: "auth",
  holds:
    "a pending email code: the email, purpose, attempts and a keyed hash of the code (never the code); " +
    "one per email and purpose",
  indexes: [{ key: { email: 1, purpose: 1 }, options: { unique: true } }],
  expires: true,
  onExpiry: "erased when the code expires (a verified sign-up code when its temp_token does)",
  onAccountDeletion: "erased (by email)",
  eraseAccount: (col, a) => col.deleteMany({ email: a.email }),
});

/** Seconds a temp_token from a verified sign-up code stays good for complete-signup. */
export const SIGNUP_TOKEN_TTL = 900;

type Purpose = OtpSessionDoc["purpose"];
const col = (deps: Deps) => otpSessions.col(deps.store.db);
const REPLACE_TRIES = 5;

/**
 * Starts an OTP session. When the request cannot lead anywhere (sign-up for an existing account,
 * login without one) the stored hash is of a code nobody receives, and the mail says why instead:
 * the caller sees the same answer, the same writes and a mail sent either way.
 *
 * One live code per email and purpose: the unique index makes a racing start fail its insert, and
 * it then replaces the winner's session, so concurrent starts leave exactly one live code.
 */
export async function startOtp(
  deps: Deps,
  email: string,
  purpose: Purpose,
  inviteId: ObjectId | null = null,
) {
  const sessions = col(deps);
  const now = deps.clock.now();
  const exists = await emailExists(deps, email);
  const usable = purpose === "signup" ? !exists : exists;
  const _id = newSessionId();
  const code = newCode();
  const doc: OtpSessionDoc = {
    _id,
    email,
    purpose,
    code_hash: codeHash(otpKey(deps.config.JWT_SECRET), _id, usable ? code : newCode() + newCode()),
    attempts: 0,
    created_at: now,
    expires_at: addSeconds(now, deps.config.OTP_TTL),
    verified_at: null,
    completed_at: null,
    invite_id: inviteId,
  };
  for (let tries = 1; ; tries++) {
    await sessions.deleteMany({ email, purpose }); // earlier codes stop working
    try {
      await sessions.insertOne(doc);
      break;
    } catch (err) {
      if (!isDuplicateKey(err) || tries === REPLACE_TRIES) throw err;
    }
  }
  await deps.mailer.send({ to: email, ...mailFor(purpose, usable, code, deps.config.OTP_TTL) });
  return { session_id: _id, expires_in: deps.config.OTP_TTL };
}

/** The code is in the body only: a subject shows on lock screens and in notifications. */
function mailFor(purpose: Purpose, usable: boolean, code: string, ttl: number) {
  const minutes = Math.round(ttl / 60);
  if (usable) {
    const what = purpose === "signup" ? "finish signing up" : "log in";
    return {
      subject: "Your Hush verification code",
      text: `Your Hush verification code is ${code}\n\nUse it to ${what}. It expires in ${minutes} minutes. If you did not ask for it, ignore this mail.`,
    };
  }
  return purpose === "signup"
    ? {
        subject: "Hush sign-up attempt",
        text: "Someone tried to sign up to Hush with this address, but it already has an account. Log in instead. If it was not you, ignore this mail.",
      }
    : {
        subject: "Hush login attempt",
        text: "Someone tried to log in to Hush with this address, but no account uses it. Sign up instead. If it was not you, ignore this mail.",
      };
}

/**
 * One answer for every session that cannot take a code: never issued, expired, burned by wrong
 * codes, or already used. Telling them apart would let a caller probe which ids are live.
 */
const spent = () => new AppError("OTP_EXPIRED", "This code is no longer valid; request a new one");

const live = (s: OtpSessionDoc | null, now: Date): s is OtpSessionDoc =>
  s !== null && s.expires_at > now && s.verified_at === null && s.attempts < OTP_ATTEMPTS;

export interface Guess {
  sessionId: string;
  code: string;
  /** The caller's per-IP budget key, for the address's per-IP share of guesses. */
  ip: string;
  /** How many times the real budgets the caller gets (budgetScale). */
  scale: number;
}

/**
 * Checks a code. The address's guess budgets are spent first (all of its sessions, all IPs), then
 * one of the session's 3 attempts with an atomic `$inc`, so concurrent guesses cannot get more
 * than 3 tries; the third wrong one empties the code's hash. A right code is spent by a conditional
 * update that only one caller can win.
 */
export async function checkOtp(
  deps: Deps,
  guess: Guess,
  sink: HeaderSink,
  precheck: (session: OtpSessionDoc) => void,
) {
  const sessions = col(deps);
  const now = deps.clock.now();
  const _id = guess.sessionId;
  const session = await sessions.findOne({ _id });
  if (!live(session, now)) throw spent();
  precheck(session); // request errors must not cost an attempt
  await deps.limiter.enforceAll(sink, guessCosts(session.email, guess.ip, guess.scale));

  const counted = await sessions.findOneAndUpdate(
    { _id },
    { $inc: { attempts: 1 } },
    { returnDocument: "after" },
  );
  const attempt = counted?.attempts ?? OTP_ATTEMPTS + 1;
  if (attempt > OTP_ATTEMPTS) throw spent();
  const left = OTP_ATTEMPTS - attempt;
  const headers = rateHeaders({
    allowed: true,
    limit: OTP_ATTEMPTS,
    remaining: left,
    resetAt: session.expires_at,
    retryAfter: 0,
  });
  for (const [k, v] of Object.entries(headers)) sink.header(k, v);

  if (!codeMatches(otpKey(deps.config.JWT_SECRET), _id, guess.code, session.code_hash)) {
    if (left === 0) await sessions.updateOne({ _id }, { $set: { code_hash: "" } });
    const detail = left ? `${left} attempt(s) left` : "no attempts left, request a new code";
    throw new AppError("OTP_INVALID", `Invalid OTP code; ${detail}`, { otp: "wrong code" });
  }
  // A verified sign-up session stays until its temp_token expires: it is what makes the token single-use.
  const keep = session.purpose === "signup" ? addSeconds(now, SIGNUP_TOKEN_TTL) : session.expires_at;
  const { modifiedCount } = await sessions.updateOne(
    { _id, verified_at: null },
    { $set: { code_hash: "", verified_at: now, expires_at: keep } },
  );
  if (modifiedCount !== 1) throw spent(); // a racing request with the same code won
  return { session, expiresIn: Math.max(1, seconds(session.expires_at) - seconds(now)) };
}

/**
 * Spends a verified sign-up session's temp_token: true for the one caller whose conditional update
 * sets `completed_at`. False when it was used, or a newer code for the address replaced it.
 */
/** Whether a sign-up session's temp_token can still complete it (checked again, atomically, by completeSignupOnce). */
export async function signupCompletable(deps: Deps, sessionId: string, email: string) {
  const open = {
    _id: sessionId,
    email,
    purpose: "signup" as const,
    verified_at: { $ne: null },
    completed_at: null,
  };
  return (await col(deps).findOne(open, { projection: { _id: 1 } })) !== null;
}

export async function completeSignupOnce(deps: Deps, sessionId: string, email: string) {
  const { modifiedCount } = await col(deps).updateOne(
    { _id: sessionId, email, purpose: "signup", verified_at: { $ne: null }, completed_at: null },
    { $set: { completed_at: deps.clock.now() } },
  );
  return modifiedCount === 1;
}

/** The invite a sign-up session carries: what its complete-signup spends, and a resend keeps. */
export async function signupInvite(deps: Deps, by: { sessionId: string } | { email: string }) {
  const filter = "sessionId" in by ? { _id: by.sessionId } : { email: by.email, purpose: "signup" as const };
  const found = await col(deps).findOne(filter, { projection: { invite_id: 1 } });
  return found?.invite_id ?? null;
}
