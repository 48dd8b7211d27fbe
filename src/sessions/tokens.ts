import { jwtVerify, SignJWT } from "jose";
import { AppError } from "../http/errors.js";
import type { Clock } from "../lib/clock.js";
import { seconds } from "../lib/clock.js";
import { randomToken, sha256 } from "../lib/random.js";

const ISSUER = "hush";
const ALG = "HS256";

export interface AccessClaims {
  userId: string;
  deviceId: string;
  sessionId: string;
}
export interface SignupClaims {
  otpSessionId: string;
  email: string;
}

/** JWTs signed with JWT_SECRET, algorithm pinned on verify; time from the injected clock. */
export function createTokens(secret: string, clock: Clock, accessTtl: number) {
  // Imported once: handed the secret's bytes, jose would import them again for every token.
  const key = crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign", "verify"],
  );

  const sign = async (claims: Record<string, unknown>, subject: string, ttl: number) => {
    const now = seconds(clock.now());
    return new SignJWT(claims)
      .setProtectedHeader({ alg: ALG, typ: "JWT" })
      .setIssuer(ISSUER)
      .setSubject(subject)
      .setIssuedAt(now)
      .setExpirationTime(now + ttl)
      .sign(await key);
  };

  const verify = async (token: string, typ: string) => {
    try {
      const { payload } = await jwtVerify(token, await key, {
        algorithms: [ALG],
        issuer: ISSUER,
        currentDate: clock.now(),
      });
      if (payload.typ !== typ || typeof payload.sub !== "string") throw new Error("wrong token type");
      return payload;
    } catch {
      throw new AppError("UNAUTHORIZED");
    }
  };

  return {
    accessTtl,
    signAccess: (c: AccessClaims) =>
      sign({ typ: "access", did: c.deviceId, sid: c.sessionId }, c.userId, accessTtl),
    async verifyAccess(token: string): Promise<AccessClaims> {
      const p = await verify(token, "access");
      if (typeof p.did !== "string" || typeof p.sid !== "string") throw new AppError("UNAUTHORIZED");
      return { userId: p.sub!, deviceId: p.did, sessionId: p.sid };
    },
    signSignup: (c: SignupClaims, ttl: number) =>
      sign({ typ: "signup", email: c.email }, c.otpSessionId, ttl),
    async verifySignup(token: string): Promise<SignupClaims> {
      const p = await verify(token, "signup");
      if (typeof p.email !== "string") throw new AppError("UNAUTHORIZED");
      return { otpSessionId: p.sub!, email: p.email };
    },
  };
}
export type Tokens = ReturnType<typeof createTokens>;

/** Refresh tokens are opaque random strings; only their SHA-256 is stored. */
export const newRefreshToken = () => {
  const token = `rt_${randomToken(32)}`;
  return { token, hash: sha256(token) };
};
export const hashRefreshToken = (token: string) => sha256(token);
