import type { ObjectId } from "mongodb";
import type { Deps } from "../deps.js";
import { AppError } from "../http/errors.js";
import { type Rule, rateHeaders } from "../limits/ratelimit.js";
import { findUsableInvite, giveBackInvite, spendInvite } from "./repo.js";

/**
 * Who may sign up (REGISTRATION, REGISTRATION_EMAIL_DOMAINS; docs/abuse.md, "Who may sign up").
 * Every check here looks at the request and the server's settings only, never at whether the
 * address has an account, so a refusal is the same for every address: nothing to enumerate.
 */

/** Wrong invite codes one IP may send a day: guessing is hopeless anyway (128-bit codes). */
export const badInviteIp: Rule = { name: "invite-bad-code-ip", limit: 10, windowSeconds: 86_400 };

function domainAllowed(deps: Deps, email: string) {
  const allowed = deps.config.REGISTRATION_EMAIL_DOMAINS;
  const domain = email.slice(email.lastIndexOf("@") + 1).toLowerCase();
  return allowed.length === 0 || allowed.includes(domain);
}

/** The checks both steps share: the mode and the address's domain. */
function admitAddress(deps: Deps, email: string) {
  if (deps.config.REGISTRATION === "closed") throw new AppError("REGISTRATION_CLOSED");
  if (!domainAllowed(deps, email)) {
    throw new AppError("EMAIL_DOMAIN_NOT_ALLOWED", undefined, {
      email: "this server does not take its domain",
    });
  }
}

/**
 * At `POST /auth/signup`, before any mail: may this address start a sign-up, with this code?
 * Returns the invite the sign-up will spend (null outside invite mode, where a code is ignored).
 * A wrong code counts against the caller's IP; a right one costs nothing.
 */
export async function admitSignup(
  deps: Deps,
  email: string,
  code: string | undefined,
  ip: string,
): Promise<ObjectId | null> {
  admitAddress(deps, email);
  if (deps.config.REGISTRATION !== "invite") return null;
  if (!code) throw new AppError("INVITE_REQUIRED", undefined, { invite_code: "required on this server" });
  const verdict = await deps.limiter.hit(badInviteIp, ip);
  if (!verdict.allowed) {
    throw new AppError("RATE_LIMITED", "Too many wrong invite codes; retry after Retry-After", undefined, {
      ...rateHeaders(verdict),
      "Retry-After": String(verdict.retryAfter),
    });
  }
  const invite = await findUsableInvite(deps, code);
  if (!invite)
    throw new AppError("INVITE_INVALID", undefined, { invite_code: "unknown, used up or expired" });
  await verdict.refund();
  return invite._id;
}

/** A sign-up resend is admitted as the sign-up was, and keeps the invite it began with. */
export function admitResend(deps: Deps, email: string, inviteId: ObjectId | null) {
  admitAddress(deps, email);
  if (deps.config.REGISTRATION === "invite" && !inviteId) {
    throw new AppError("INVITE_REQUIRED", "Start with POST /auth/signup and an invite code", {
      invite_code: "required on this server",
    });
  }
  return inviteId;
}

/**
 * At `complete-signup`, just before the account is created: the settings may have changed since
 * the code was mailed, and the invite is spent here (a code used up in between is refused). The
 * returned function gives the use back if the account is not created after all.
 */
export async function admitCompletion(deps: Deps, email: string, inviteId: ObjectId | null) {
  admitAddress(deps, email);
  if (deps.config.REGISTRATION !== "invite") return async () => {};
  if (!inviteId) throw new AppError("INVITE_REQUIRED", undefined, { invite_code: "required on this server" });
  if (!(await spendInvite(deps, inviteId))) {
    throw new AppError(
      "INVITE_INVALID",
      "The invite code was used up, revoked or expired since sign-up began",
    );
  }
  return async () => void (await giveBackInvite(deps, inviteId));
}
