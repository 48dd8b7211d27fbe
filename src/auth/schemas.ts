import { z } from "@hono/zod-openapi";
import { AccountKeyB64, DeviceInfo, SignupDeviceInfo } from "../devices/schemas.js";
import { Timestamp, trimmed } from "../http/openapi.js";
import { Email, Id, ProfileFields, UserBody, Username } from "../users/schemas.js";

export const Purpose = z
  .enum(["signup", "login"])
  .openapi("OtpPurpose", { description: "What the emailed code is for" });
export const SignupRequest = z
  .object({
    email: Email,
    purpose: z.literal("signup").default("signup"),
    invite_code: trimmed(1, 100)
      .optional()
      .openapi({
        description:
          "Required when the server takes sign-ups by invite only (REGISTRATION=invite); ignored otherwise. " +
          "Checked here, spent by complete-signup.",
        example: "hush-3q2x9Vb0cKfLmN4pRsTu1w",
      }),
  })
  .openapi("SignupRequest");
export const LoginRequest = z.object({ email: Email }).openapi("LoginRequest");
export const ResendRequest = z
  .object({ email: Email, purpose: Purpose.default("signup") })
  .openapi("ResendRequest");

/** Handed to callers without an account, so it must not be guessable: see src/auth/otp.ts. */
const OtpSessionId = z
  .string()
  .regex(/^[0-9a-f]{32}$/)
  .openapi({
    description: "128 random bits as 32 hex digits: not guessable, and not derivable from any other id",
    example: "9f2c4e1ab07d43c6e5f81a2b3c4d5e6f",
  });

export const OtpStarted = z
  .object({
    session_id: OtpSessionId,
    expires_in: z
      .number()
      .int()
      .min(1)
      .openapi({ description: "Seconds the code stays valid", example: 300 }),
    message: z.string().openapi({ example: "OTP sent successfully to user@example.com" }),
  })
  .openapi("OtpStarted");

export const VerifyRequest = z
  .object({
    session_id: z
      .string()
      .trim()
      .toLowerCase()
      .regex(/^[0-9a-f]{32}$/, "must be the 32-hex-digit session_id that started the code")
      .openapi({
        pattern: "^[0-9a-fA-F]{32}$",
        description: "The `session_id` the code was started with (any letter case)",
      }),
    otp: z.string().regex(/^\d{6}$/, "must be 6 digits"),
    device_info: DeviceInfo.optional(),
  })
  .openapi("VerifyOtpRequest", { description: "`device_info` is required when the session is a login" });

const TokenType = z.enum(["Bearer"]).openapi("TokenType");
const TokenFields = {
  session_token: z.string().openapi({ description: "Bearer access token (JWT)" }),
  refresh_token: z.string().openapi({ description: "Single-use refresh token; rotate with /auth/refresh" }),
  token_type: TokenType,
  expires_in: z
    .number()
    .int()
    .min(1)
    .openapi({ description: "Access token lifetime in seconds", example: 900 }),
};
export const TokenPairBody = z.object(TokenFields).openapi("TokenPair");

// HABIBTI's `verified: true` is declared a boolean: generators turn a one-value boolean enum into
// code that does not compile.
const Verified = z.literal(true).openapi({ type: "boolean", description: "Always true" });

export const VerifySignupBody = z
  .object({
    purpose: z.literal("signup").openapi({ description: "The session was a sign-up: complete it next" }),
    verified: Verified,
    temp_token: z.string().openapi({ description: "For complete-signup; valid 15 minutes, once" }),
    message: z.string(),
  })
  .openapi("VerifySignupResult");
export const LoginBody = z
  .object({
    purpose: z.literal("login").openapi({ description: "The session was a login: the device is signed in" }),
    verified: Verified,
    ...TokenFields,
    user: UserBody,
    message: z.string(),
  })
  .openapi("LoginResult");
export const VerifyResult = z
  .discriminatedUnion("purpose", [VerifySignupBody, LoginBody])
  .openapi("VerifyOtpResult", {
    description: "`purpose` says which: a sign-up to complete, or a login done",
  });

export const CompleteSignupQuery = z.object({
  temp_token: z
    .string()
    .min(1)
    .openapi({ description: "Temporary token from verify-otp", param: { in: "query" } }),
});
export const CompleteSignupRequest = z
  .object({
    email: Email.openapi({ description: "The email the code was sent to" }),
    username: Username,
    ...ProfileFields,
    public_key: AccountKeyB64.nullable()
      .optional()
      .openapi({
        description:
          "The account key (Ed25519), which signs the account's devices; its secret stays on the user's " +
          "devices. Optional: without it the account's devices are unsigned (a legacy account)",
      }),
    device_info: SignupDeviceInfo,
  })
  .superRefine((b, ctx) => {
    if (b.public_key && !b.device_info.account_signature) {
      ctx.addIssue({
        code: "custom",
        path: ["device_info", "account_signature"],
        message: "required with public_key: the account key's signature of this device",
      });
    }
    if (!b.public_key && b.device_info.account_signature) {
      ctx.addIssue({
        code: "custom",
        path: ["public_key"],
        message: "required with device_info.account_signature",
      });
    }
  })
  .openapi("CompleteSignupRequest");
// Spelled out rather than UserBody.extend(): an extended schema comes out as an allOf, and
// generators merging it lose the nullability of the user's fields.
export const SignedUpBody = z.object({ ...UserBody.shape, ...TokenFields }).openapi("SignedUpUser");

export const RefreshRequest = z
  .object({ refresh_token: z.string().min(1).max(200) })
  .openapi("RefreshRequest");

export const SessionBody = z
  .object({
    id: Id,
    device_id: z.string(),
    created_at: Timestamp,
    last_used_at: Timestamp,
    expires_at: Timestamp,
    current: z.boolean().openapi({ description: "True for the session making the request" }),
  })
  .openapi("Session");
export const SessionList = z.object({ sessions: z.array(SessionBody) }).openapi("SessionList");

const at = "2026-01-19T02:00:00.000Z";
/** Both of verify-otp's answers, so /docs shows each (a generated example shows only the first shape). */
export const verifyExamples = {
  signup: {
    summary: "A sign-up session: complete it with the temp_token",
    value: {
      purpose: "signup",
      verified: true,
      temp_token: "c2lnbnVwLXRlbXAtdG9rZW4tZXhhbXBsZQ",
      message: "OTP verified successfully. Please complete your profile to continue.",
    },
  },
  login: {
    summary: "A login session: the device is signed in",
    value: {
      purpose: "login",
      verified: true,
      session_token: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI1MDdmMWY3N2JjZjg2Y2Q3OTk0MzkwMTEifQ.c2lnbmF0dXJl",
      refresh_token: "cmVmcmVzaC10b2tlbi1leGFtcGxl",
      token_type: "Bearer",
      expires_in: 900,
      user: {
        id: "507f1f77bcf86cd799439011",
        email: "user@example.com",
        username: "johndoe",
        public_key: null,
        profile: {
          full_name: "John Doe",
          mobile: null,
          address: null,
          date_of_birth: null,
          gender: null,
          bio: null,
          avatar_url: null,
          created_at: at,
        },
        privacy: {
          discoverable_by_email: true,
          discoverable_by_username: true,
          show_online_status: true,
          read_receipts: true,
          allow_messages_from: "everyone",
        },
        devices: [
          {
            device_id: "device-uuid",
            device_name: "Chrome on Linux",
            key_type: "ed25519",
            identity_key: "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
            created_at: at,
            last_seen: at,
            status: "unsigned",
            account_signature: null,
            current: true,
          },
        ],
        status: { online: false, last_seen: at },
      },
      message: "Logged in",
    },
  },
};
