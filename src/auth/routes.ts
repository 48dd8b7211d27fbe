import { z } from "@hono/zod-openapi";
import { bearer, json, jsonBody, route } from "../http/openapi.js";
import { UserBody } from "../users/schemas.js";
import * as s from "./schemas.js";

const tags = ["Authentication"];
/** Who may sign up: src/invites/admission.ts. */
const admissionErrors = [
  "REGISTRATION_CLOSED",
  "INVITE_REQUIRED",
  "INVITE_INVALID",
  "EMAIL_DOMAIN_NOT_ALLOWED",
] as const;
const post = "post" as const;

export const signup = route({
  method: post,
  path: "/auth/signup",
  tags,
  security: [],
  operationId: "signup",
  summary: "Start sign-up: email a 6-digit code",
  description:
    "Answers the same whether or not the email already has an account (no enumeration); the mail says the truth. " +
    "Limited to 3 requests per 15 minutes per IP (shown in X-RateLimit-*), and, whoever asks, to the address's " +
    "mail budget shared with login and resend-otp: 5 codes an hour and 20 a day, of which one IP gets at " +
    "most 2 an hour and 5 a day (a 429 whose X-RateLimit-* stay the caller's own; see docs/abuse.md). A new " +
    "code replaces the address's earlier one. Who may sign up is the server's choice (REGISTRATION): 403 " +
    "`REGISTRATION_CLOSED`, `INVITE_REQUIRED`, `INVITE_INVALID` (a wrong code counts against 10 a day per IP) " +
    "or `EMAIL_DOMAIN_NOT_ALLOWED`, decided before any mail and the same for every address.",
  request: jsonBody(s.SignupRequest),
  responses: { 200: json(s.OtpStarted, "Code sent") },
  errors: ["RATE_LIMITED", ...admissionErrors],
});

export const login = route({
  method: post,
  path: "/auth/login",
  tags,
  security: [],
  operationId: "login",
  summary: "Start login: email a 6-digit code",
  description:
    "Answers the same whether or not an account exists. Limited to 10 per 15 minutes per IP (shown in " +
    "X-RateLimit-*) and to the address's mail budget shared with sign-up and resend-otp (see signup).",
  request: jsonBody(s.LoginRequest),
  responses: { 200: json(s.OtpStarted, "Code sent") },
  errors: ["RATE_LIMITED"],
});

export const resend = route({
  method: post,
  path: "/auth/resend-otp",
  tags,
  security: [],
  operationId: "resendOtp",
  summary: "Send a new code; earlier codes for this email and purpose stop working",
  description:
    "Counts as a sign-up or a login (by `purpose`): the same per-IP limit and the address's mail budget. " +
    "A sign-up resend keeps the invite the sign-up began with, and is refused as sign-up is.",
  request: jsonBody(s.ResendRequest),
  responses: { 200: json(s.OtpStarted, "Code resent") },
  errors: ["RATE_LIMITED", ...admissionErrors],
});

export const verify = route({
  method: post,
  path: "/auth/verify-otp",
  tags,
  security: [],
  operationId: "verifyOtp",
  summary: "Check a code",
  description:
    "The answer's `purpose` says which of two shapes it is. For a sign-up session (`signup`) it carries a " +
    "`temp_token` for complete-signup; for a login session (`login`, which needs `device_info`) the session " +
    "and refresh tokens and the user. 3 attempts per session, counted in the X-RateLimit-* headers; the " +
    "third wrong code burns it. A session that cannot take a code (unknown, expired, burned or used) always " +
    "gets the same 400 `OTP_EXPIRED`, so no answer tells which ids are live. Codes checked against one " +
    "address are limited to 20 a day from all IPs and 6 a day from one IP, and checks to 30 per 15 minutes " +
    "per IP (429 `RATE_LIMITED`; see docs/abuse.md). `DEVICE_LIMIT_REACHED` when a login would exceed the " +
    "account's devices. On an account with an account key, a device new to it (or re-keyed) logs in " +
    "`pending`: it gets its tokens and reads its own account, but is in no device list, gets no message " +
    "keys and no message entries until a linked device approves it (POST /devices/{device_id}/approve). 403 `ACCOUNT_SUSPENDED` for a login to an account the operator suspended.",
  request: jsonBody(s.VerifyRequest),
  responses: {
    200: {
      description: "Verified: a sign-up to complete (`purpose: signup`) or a login done (`purpose: login`)",
      content: { "application/json": { schema: s.VerifyResult, examples: s.verifyExamples } },
    },
  },
  errors: ["OTP_INVALID", "OTP_EXPIRED", "DEVICE_LIMIT_REACHED", "RATE_LIMITED", "ACCOUNT_SUSPENDED"],
});

export const completeSignup = route({
  method: post,
  path: "/auth/complete-signup",
  tags,
  security: [],
  operationId: "completeSignup",
  summary: "Create the account and its first device; returns the user and tokens",
  description:
    "401 `UNAUTHORIZED` for a bad or expired `temp_token`, 400 `OTP_USED` when it was already used; " +
    "409 `EMAIL_TAKEN` / `USERNAME_TAKEN`. With `public_key` (the account key, Ed25519) the first device " +
    "must carry `device_info.account_signature`, the account key's signature linking it (see " +
    "docs/devices.md): a missing one is 400 `VALIDATION_ERROR`, a wrong one 400 `INVALID_SIGNATURE`, both " +
    "naming the field; a key another account holds is 409 `CONFLICT`. Without `public_key` the account " +
    "is a legacy one: its devices are unsigned and clients warn. The sign-up's invite is spent here: 403 " +
    "`INVITE_INVALID` when it was used up or revoked since (the temp_token stays good), and the " +
    "registration settings are checked again.",
  request: { query: s.CompleteSignupQuery, ...jsonBody(s.CompleteSignupRequest) },
  responses: { 201: json(s.SignedUpBody, "Account created") },
  errors: [
    "OTP_USED",
    "UNAUTHORIZED",
    "EMAIL_TAKEN",
    "USERNAME_TAKEN",
    "INVALID_SIGNATURE",
    "CONFLICT",
    ...admissionErrors,
  ],
});

export const refresh = route({
  method: post,
  path: "/auth/refresh",
  tags,
  security: [],
  operationId: "refresh",
  summary: "Rotate a refresh token",
  description:
    "Each refresh token works once. Presenting one that was already used revokes the whole session " +
    "(401 `REFRESH_TOKEN_REUSED`). 403 `ACCOUNT_SUSPENDED` while the operator has suspended the account.",
  request: jsonBody(s.RefreshRequest),
  responses: { 200: json(s.TokenPairBody, "New token pair") },
  errors: ["UNAUTHORIZED", "REFRESH_TOKEN_REUSED", "ACCOUNT_SUSPENDED"],
});

export const logout = route({
  method: post,
  path: "/auth/logout",
  tags,
  security: bearer,
  operationId: "logout",
  summary: "End the current session",
  description:
    "Revokes the session the bearer token belongs to: its access token and refresh token stop working at " +
    "once. The account's other sessions (other devices) stay; revoke them one by one with deleteSession",
  responses: { 204: { description: "Logged out" } },
});

export const listSessions = route({
  method: "get",
  path: "/auth/sessions",
  tags,
  security: bearer,
  operationId: "listSessions",
  summary: "The account's active sessions",
  description:
    "One entry per active session of the calling account (one per logged-in device), with when it was " +
    "opened, last used and expires; `current` marks the one making the request. No tokens are shown",
  responses: { 200: json(s.SessionList, "Sessions") },
});

export const deleteSession = route({
  method: "delete",
  path: "/auth/sessions/{session_id}",
  tags,
  security: bearer,
  operationId: "deleteSession",
  summary: "Revoke one session; its tokens stop working at once",
  description:
    "Revokes one of the calling account's sessions by id (from listSessions). " +
    "Another account's session, or one already gone, is a 404",
  request: { params: z.object({ session_id: s.SessionBody.shape.id.openapi({ param: { in: "path" } }) }) },
  responses: { 204: { description: "Revoked" } },
  errors: ["NOT_FOUND"],
});

export const me = route({
  method: "get",
  path: "/auth/me",
  tags,
  security: bearer,
  operationId: "me",
  summary: "The calling user",
  description:
    "The calling account as its owner sees it: profile, privacy settings and email. HABIBTI's path; " +
    "`GET /users/me` answers the same body",
  responses: { 200: json(UserBody, "Current user") },
});
