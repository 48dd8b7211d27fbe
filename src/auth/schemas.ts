import { z } from "@hono/zod-openapi";
import { IdentityKeyB64 } from "../keys/schemas.js";
import { DeviceInfo, Email, ProfileFields, UserBody, Username } from "../users/schemas.js";

export const Purpose = z.enum(["signup", "login"]);
export const SignupRequest = z
  .object({ email: Email, purpose: z.literal("signup").default("signup") })
  .openapi("SignupRequest");
export const LoginRequest = z.object({ email: Email }).openapi("LoginRequest");
export const ResendRequest = z
  .object({ email: Email, purpose: Purpose.default("signup") })
  .openapi("ResendRequest");

export const OtpStarted = z
  .object({
    session_id: z.string().openapi({
      description: "128 random bits as 32 hex digits: not guessable, and not derivable from any other id",
      example: "9f2c4e1ab07d43c6e5f81a2b3c4d5e6f",
    }),
    expires_in: z.number().int().openapi({ example: 300 }),
    message: z.string().openapi({ example: "OTP sent successfully to user@example.com" }),
  })
  .openapi("OtpStarted");

export const VerifyRequest = z
  .object({
    session_id: z
      .string()
      .trim()
      .toLowerCase()
      .regex(/^[0-9a-f]{32}$/, "must be the 32-hex-digit session_id that started the code"),
    otp: z.string().regex(/^\d{6}$/, "must be 6 digits"),
    device_info: DeviceInfo.optional().openapi({
      description: "Required when the session's purpose is login",
    }),
  })
  .openapi("VerifyOtpRequest");

const TokenFields = {
  session_token: z.string().openapi({ description: "Bearer access token (JWT)" }),
  refresh_token: z.string().openapi({ description: "Single-use refresh token; rotate with /auth/refresh" }),
  token_type: z.literal("Bearer"),
  expires_in: z.number().int().openapi({ description: "Access token lifetime in seconds", example: 900 }),
};
export const TokenPairBody = z.object(TokenFields).openapi("TokenPair");

export const VerifySignupBody = z
  .object({ verified: z.literal(true), temp_token: z.string(), message: z.string() })
  .openapi("VerifySignupResult");
export const LoginBody = z
  .object({ verified: z.literal(true), ...TokenFields, user: UserBody, message: z.string() })
  .openapi("LoginResult");

export const CompleteSignupQuery = z.object({
  temp_token: z
    .string()
    .min(1)
    .openapi({ description: "Temporary token from verify-otp", param: { in: "query" } }),
});
export const CompleteSignupRequest = z
  .object({
    email: Email,
    username: Username,
    ...ProfileFields,
    public_key: IdentityKeyB64.nullable()
      .optional()
      .openapi({ description: "Optional account-level identity key" }),
    device_info: DeviceInfo,
  })
  .openapi("CompleteSignupRequest");
export const SignedUpBody = UserBody.extend(TokenFields).openapi("SignedUpUser");

export const RefreshRequest = z
  .object({ refresh_token: z.string().min(1).max(200) })
  .openapi("RefreshRequest");

export const SessionBody = z
  .object({
    id: z.string(),
    device_id: z.string(),
    created_at: z.string(),
    last_used_at: z.string(),
    expires_at: z.string(),
    current: z.boolean(),
  })
  .openapi("Session");
export const SessionList = z.object({ sessions: z.array(SessionBody) }).openapi("SessionList");
