import { hmac, randomDigits, randomHex, safeEqualHex } from "../lib/random.js";

/** OTP codes: 6 CSPRNG digits, stored only as an HMAC bound to their session, compared in constant time. */
export const OTP_ATTEMPTS = 3;
export const newCode = () => randomDigits(6);
/** 128 random bits as 32 lower-case hex digits: handed to callers who have no account, so unguessable. */
export const newSessionId = () => randomHex(16);
export const otpKey = (secret: string) => hmac(secret, "hush otp key");
export const codeHash = (key: string, sessionId: string, code: string) => hmac(key, `${sessionId}:${code}`);
export const codeMatches = (key: string, sessionId: string, code: string, stored: string) =>
  stored.length > 0 && safeEqualHex(codeHash(key, sessionId, code), stored);
