import type { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { ObjectId } from "mongodb";
import { coMembersOf } from "../conversations/members.js";
import { parseId } from "../db/ids.js";
import { identityChanged } from "../delivery/account-notices.js";
import type { Deps } from "../deps.js";
import { assertKeyFree, setAccountKey } from "../devices/account-keys.js";
import { parseIdentityKey } from "../devices/crypto.js";
import { verifyLink } from "../devices/linking.js";
import { accountDevices, listAccountDevices, registerDevice } from "../devices/repo.js";
import type { DeviceInfo } from "../devices/schemas.js";
import { ipBucket } from "../http/client-ip.js";
import { AppError } from "../http/errors.js";
import type { AppEnv, Handlers } from "../http/openapi.js";
import { admitCompletion, admitResend, admitSignup } from "../invites/admission.js";
import { dropPrekeys } from "../keys/repo.js";
import { decodeBase64 } from "../lib/base64.js";
import { iso } from "../lib/clock.js";
import { identityAudience } from "../policy/policy.js";
import { removeSubscription } from "../push/repo.js";
import { findSession, listSessions, openSession, revokeSession, rotateRefresh } from "../sessions/repo.js";
import { ownAccount, toUserBody } from "../users/present.js";
import { createUser, deleteAccount, findByEmail } from "../users/repo.js";
import { budgetScale, startCosts, verifyCosts } from "./budgets.js";
import {
  checkOtp,
  completeSignupOnce,
  SIGNUP_TOKEN_TTL,
  signupCompletable,
  signupInvite,
  startOtp,
} from "./otp-flow.js";
import type * as r from "./routes.js";

/** The key per-IP budgets count under (an IPv6 /64 counts as one address). */
const ipOf = (c: Context<AppEnv>) => ipBucket(c.get("clientIp"));

/** The handlers of the routes in ./routes.ts, typed by them; ./index.ts wires them. */
export function authHandlers(deps: Deps): Handlers<typeof r> {
  /** The caller's budgets: production's, or generous ones in development on loopback. */
  const scaleOf = (c: Context<AppEnv>) => budgetScale(deps.config.NODE_ENV, c.get("clientIp"));
  /**
   * A login or sign-up registers the device it comes from; a reinstall's old prekeys go, and
   * whoever encrypts to that device is told its identity key changed.
   */
  const enroll = (userId: ObjectId, info: z.infer<typeof DeviceInfo>, signature: string | null = null) =>
    registerDevice(
      deps,
      userId,
      info,
      async (key_type) => {
        await dropPrekeys(deps, userId, info.device_id);
        const audience = await identityAudience(deps, userId, await coMembersOf(deps, userId));
        await identityChanged(
          deps,
          userId,
          { device_id: info.device_id, identity_key: info.public_key, key_type },
          audience,
        );
      },
      signature,
    );
  /** The first device's link must verify, and the account key be nobody else's, before anything is written. */
  async function checkFirstLink(accountKey: string, info: z.infer<typeof DeviceInfo>, signature: string) {
    const parsed = parseIdentityKey(decodeBase64(info.public_key)!); // the schema checked it
    const key_type = parsed.ok ? parsed.key.keyType : "ed25519";
    const device = { device_id: info.device_id, key_type, identity_key: info.public_key };
    if (!verifyLink(accountKey, device, signature)) {
      throw new AppError("INVALID_SIGNATURE", "The account key's signature of the device does not verify", {
        "device_info.account_signature": "does not verify against public_key over the link statement",
      });
    }
    await assertKeyFree(deps, accountKey);
  }

  return {
    signup: async (c) => {
      const { email, invite_code } = c.req.valid("json");
      const invite = await admitSignup(deps, email, invite_code, ipOf(c));
      await deps.limiter.enforceAll(c, startCosts("signup", email, ipOf(c), scaleOf(c)));
      const started = await startOtp(deps, email, "signup", invite);
      return c.json({ ...started, message: `OTP sent successfully to ${email}` }, 200);
    },
    login: async (c) => {
      const { email } = c.req.valid("json");
      await deps.limiter.enforceAll(c, startCosts("login", email, ipOf(c), scaleOf(c)));
      const started = await startOtp(deps, email, "login");
      return c.json({ ...started, message: `OTP sent successfully to ${email}` }, 200);
    },
    resend: async (c) => {
      const { email, purpose } = c.req.valid("json");
      const invite =
        purpose === "signup" ? admitResend(deps, email, await signupInvite(deps, { email })) : null;
      await deps.limiter.enforceAll(c, startCosts(purpose, email, ipOf(c), scaleOf(c)));
      const started = await startOtp(deps, email, purpose, invite);
      return c.json({ ...started, message: `OTP resent successfully to ${email}` }, 200);
    },
    verify: async (c) => {
      const body = c.req.valid("json");
      await deps.limiter.enforceAll(c, verifyCosts(ipOf(c), scaleOf(c)));
      const { session } = await checkOtp(
        deps,
        { sessionId: body.session_id, code: body.otp, ip: ipOf(c), scale: scaleOf(c) },
        c,
        (s) => {
          if (s.purpose === "login" && !body.device_info) {
            throw new AppError("VALIDATION_ERROR", "device_info is required to log in", {
              device_info: "required for a login session",
            });
          }
        },
      );
      if (session.purpose === "signup") {
        const temp_token = await deps.tokens.signSignup(
          { otpSessionId: body.session_id, email: session.email },
          SIGNUP_TOKEN_TTL,
        );
        return c.json(
          {
            purpose: "signup" as const,
            verified: true as const,
            temp_token,
            message: "OTP verified successfully. Please complete your profile to continue.",
          },
          200,
        );
      }
      const user = await findByEmail(deps, session.email);
      if (!user) throw new AppError("OTP_INVALID", "The account no longer exists");
      if (user.status === "suspended") throw new AppError("ACCOUNT_SUSPENDED");
      const info = body.device_info!; // checked before the code was
      // A new device on an account with an account key is pending until a linked device approves it.
      await enroll(user._id, info);
      const tokens = await openSession(deps, user._id, info.device_id);
      const { devices, accountKey } = await accountDevices(deps, user._id);
      const userBody = toUserBody({ ...user, account_key: accountKey }, devices, info.device_id);
      return c.json(
        {
          purpose: "login" as const,
          verified: true as const,
          ...tokens,
          user: userBody,
          message: "Logged in",
        },
        200,
      );
    },
    completeSignup: async (c) => {
      const { temp_token } = c.req.valid("query");
      const body = c.req.valid("json");
      const claims = await deps.tokens.verifySignup(temp_token);
      if (body.email !== claims.email) {
        throw new AppError("VALIDATION_ERROR", "email does not match the verified email", {
          email: "must be the email the code was sent to",
        });
      }
      // A used token is its own 400, before the account it made would answer 409 EMAIL_TAKEN.
      if (!(await signupCompletable(deps, claims.otpSessionId, claims.email))) throw tokenUsed();
      const accountKey = body.public_key ?? null;
      const signature = body.device_info.account_signature ?? null;
      const { account_signature: _, ...info } = body.device_info;
      if (accountKey) await checkFirstLink(accountKey, info, signature!);
      // Validation (profile, username, device) happened before this, so a typo does not burn the token.
      const user = await createUser(deps, body, async () => {
        const giveBack = await admitCompletion(
          deps,
          claims.email,
          await signupInvite(deps, { sessionId: claims.otpSessionId }),
        );
        if (!(await completeSignupOnce(deps, claims.otpSessionId, claims.email))) {
          await giveBack();
          throw tokenUsed();
        }
      });
      if (accountKey) {
        // A race for the same key lost after the check: the account goes, as if never created.
        await setAccountKey(deps, user._id, accountKey).catch(async (err) => {
          await deleteAccount(deps, user._id);
          throw err;
        });
      }
      await enroll(user._id, info, signature);
      const tokens = await openSession(deps, user._id, info.device_id);
      const devices = await listAccountDevices(deps, user._id);
      return c.json(
        { ...toUserBody({ ...user, account_key: accountKey }, devices, info.device_id), ...tokens },
        201,
      );
    },
    refresh: async (c) => {
      const { refresh_token } = c.req.valid("json");
      return c.json(await rotateRefresh(deps, refresh_token), 200);
    },
    logout: async (c) => {
      const auth = c.get("auth");
      await revokeSession(deps, auth.sessionId);
      // A device has one session: logged out, it is woken by no push until it logs in and subscribes again.
      await removeSubscription(deps, auth.userId, auth.deviceId);
      return c.body(null, 204);
    },
    listSessions: async (c) => {
      const auth = c.get("auth");
      const sessions = await listSessions(deps, auth.userId);
      return c.json(
        {
          sessions: sessions.map((s) => ({
            id: s._id.toHexString(),
            device_id: s.device_id,
            created_at: iso(s.created_at),
            last_used_at: iso(s.last_used_at),
            expires_at: iso(s.expires_at),
            current: s._id.equals(auth.sessionId),
          })),
        },
        200,
      );
    },
    deleteSession: async (c) => {
      const auth = c.get("auth");
      const id = parseId(c.req.valid("param").session_id, "session_id");
      const session = await findSession(deps, id, auth.userId);
      if (!session) throw new AppError("NOT_FOUND", "Session not found");
      await revokeSession(deps, id);
      await removeSubscription(deps, auth.userId, session.device_id);
      return c.body(null, 204);
    },
    me: async (c) => {
      const auth = c.get("auth");
      return c.json(await ownAccount(deps, auth), 200);
    },
  };
}

const tokenUsed = () =>
  new AppError("OTP_USED", "This temp_token was already used, or a newer code replaced it");
