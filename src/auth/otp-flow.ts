import { ObjectId } from "mongodb";
import { owned } from "../db/owned.js";
import type { Deps } from "../deps.js";
import { rateHeaders } from "../limits/ratelimit.js";
import { claimOnce, claimSlot, slots as slotsOwner } from "../limits/slots.js";
import { addSeconds, seconds } from "../shared/clock.js";
import { AppError } from "../shared/errors.js";
import { emailExists } from "../users/repo.js";
import { codeHash, codeMatches, newCode, OTP_ATTEMPTS, otpKey } from "./otp.js";

export interface OtpSessionDoc {
  _id: ObjectId;
  email: string;
  purpose: "signup" | "login";
  /** Keyed hash of the code; the code itself is never stored. */
  code_hash: string;
  created_at: Date;
  expires_at: Date;
  verified_at: Date | null;
}
export const otpSessions = owned<OtpSessionDoc>({
  name: "otp_sessions",
  owner: "auth",
  holds: "a pending email code: the email, purpose and a keyed hash of the code (never the code)",
  indexes: [{ key: { email: 1, purpose: 1 } }],
  expires: true,
  onExpiry: "erased when the code expires",
  onAccountDeletion: "erased (by email)",
  eraseAccount: (col, a) => col.deleteMany({ email: a.email }),
});

type Purpose = OtpSessionDoc["purpose"];

/**
 * Starts an OTP session. When the request cannot lead anywhere (sign-up for an existing account,
 * login without one) the stored hash is of a code nobody receives, and the mail says why instead:
 * the caller sees the same answer, the same writes and a mail sent either way.
 */
export async function startOtp(deps: Deps, email: string, purpose: Purpose) {
  const sessions = otpSessions.col(deps.store.db);
  const now = deps.clock.now();
  const exists = await emailExists(deps, email);
  const usable = purpose === "signup" ? !exists : exists;
  await sessions.deleteMany({ email, purpose }); // earlier codes stop working
  const _id = new ObjectId();
  const code = newCode();
  const key = otpKey(deps.config.JWT_SECRET);
  await sessions.insertOne({
    _id,
    email,
    purpose,
    code_hash: codeHash(key, _id.toHexString(), usable ? code : newCode() + newCode()),
    created_at: now,
    expires_at: addSeconds(now, deps.config.OTP_TTL),
    verified_at: null,
  });
  await deps.mailer.send({ to: email, ...mailFor(purpose, usable, code, deps.config.OTP_TTL) });
  return { session_id: _id.toHexString(), expires_in: deps.config.OTP_TTL };
}

function mailFor(purpose: Purpose, usable: boolean, code: string, ttl: number) {
  const minutes = Math.round(ttl / 60);
  if (usable) {
    const what = purpose === "signup" ? "finish signing up" : "log in";
    return {
      subject: `Your Hush code: ${code}`,
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
 * Checks a code. Every check takes one of the session's 3 attempt slots before comparing, so
 * concurrent guesses cannot get more than 3 tries; the third wrong one erases the code's hash.
 * A right code is claimed once, so it cannot be used twice even by two racing requests.
 */
export async function checkOtp(
  deps: Deps,
  sessionId: string,
  code: string,
  setHeader: (k: string, v: string) => void,
  precheck: (session: OtpSessionDoc) => void,
) {
  const otp = otpSessions.col(deps.store.db);
  const slots = slotsOwner.col(deps.store.db);
  const now = deps.clock.now();
  const _id = new ObjectId(sessionId);
  const session = await otp.findOne({ _id });
  if (!session) throw new AppError("NOT_FOUND", "OTP session not found; request a new code");
  if (session.verified_at) throw new AppError("OTP_USED");
  if (session.expires_at <= now) throw new AppError("OTP_EXPIRED");
  precheck(session); // request errors must not cost an attempt

  const slot = await claimSlot(slots, `otp-attempt:${sessionId}`, OTP_ATTEMPTS, session.expires_at);
  const verdict = {
    allowed: slot !== null,
    limit: OTP_ATTEMPTS,
    remaining: slot === null ? 0 : OTP_ATTEMPTS - slot,
    resetAt: session.expires_at,
  };
  const headers = rateHeaders(verdict, now);
  for (const [k, v] of Object.entries(headers)) setHeader(k, v);
  if (slot === null) throw new AppError("OTP_ATTEMPTS_EXCEEDED", undefined, undefined, headers);

  if (!codeMatches(otpKey(deps.config.JWT_SECRET), sessionId, code, session.code_hash)) {
    if (slot >= OTP_ATTEMPTS) {
      await otp.updateOne({ _id }, { $set: { code_hash: "" } });
      throw new AppError("OTP_INVALID", "Invalid OTP code; no attempts left, request a new code", {
        otp: "wrong code",
      });
    }
    throw new AppError("OTP_INVALID", `Invalid OTP code; ${OTP_ATTEMPTS - slot} attempt(s) left`, {
      otp: "wrong code",
    });
  }
  if (!(await claimOnce(slots, `otp-used:${sessionId}`, session.expires_at))) throw new AppError("OTP_USED");
  await otp.updateOne({ _id }, { $set: { code_hash: "", verified_at: now } });
  return { session, expiresIn: Math.max(1, seconds(session.expires_at) - seconds(now)) };
}
