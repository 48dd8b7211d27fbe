import { createRoute, z } from "@hono/zod-openapi";
import { bearer, errors, json, jsonBody } from "../shared/openapi.js";
import { UserBody } from "../users/schemas.js";
import * as s from "./schemas.js";

const tags = ["Authentication"];
const post = "post" as const;

export const signup = createRoute({
  method: post,
  path: "/auth/signup",
  tags,
  security: [],
  operationId: "signup",
  summary: "Start sign-up: email a 6-digit code",
  description:
    "Answers the same whether or not the email already has an account (no enumeration); the mail says the truth. " +
    "Limited to 3 requests per 15 minutes per IP (shown in X-RateLimit-*), and, whoever asks, to the address's " +
    "mail budget shared with login and resend-otp: 5 codes an hour, 20 a day, at most 4 a day from one IP " +
    "(a 429 with Retry-After only; see docs/abuse.md). A new code replaces the address's earlier one.",
  request: jsonBody(s.SignupRequest),
  responses: { 200: json(s.OtpStarted, "Code sent"), ...errors(413, 415, 429) },
});

export const login = createRoute({
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
  responses: { 200: json(s.OtpStarted, "Code sent"), ...errors(413, 415, 429) },
});

export const resend = createRoute({
  method: post,
  path: "/auth/resend-otp",
  tags,
  security: [],
  operationId: "resendOtp",
  summary: "Send a new code; earlier codes for this email and purpose stop working",
  description:
    "Counts as a sign-up or a login (by `purpose`): the same per-IP limit and the address's mail budget.",
  request: jsonBody(s.ResendRequest),
  responses: { 200: json(s.OtpStarted, "Code resent"), ...errors(413, 415, 429) },
});

export const verify = createRoute({
  method: post,
  path: "/auth/verify-otp",
  tags,
  security: [],
  operationId: "verifyOtp",
  summary: "Check a code",
  description:
    "For a sign-up session returns a `temp_token` for complete-signup; for a login session (which needs " +
    "`device_info`) returns the session and refresh tokens and the user. 3 attempts per session (shown in " +
    "X-RateLimit-*); the third wrong code burns it. A session that cannot take a code (unknown, expired, burned " +
    "or used) always gets the same 400 `OTP_EXPIRED`. Codes checked against one address are limited to 20 a " +
    "day from all IPs and 6 a day from one IP, and 30 checks per 15 minutes per IP (429 `RATE_LIMITED`).",
  request: jsonBody(s.VerifyRequest),
  responses: {
    200: json(z.union([s.VerifySignupBody, s.LoginBody]), "Verified"),
    ...errors(409, 413, 415, 429),
  },
});

export const completeSignup = createRoute({
  method: post,
  path: "/auth/complete-signup",
  tags,
  security: [],
  operationId: "completeSignup",
  summary: "Create the account and its first device; returns the user and tokens",
  request: { query: s.CompleteSignupQuery, ...jsonBody(s.CompleteSignupRequest) },
  responses: { 201: json(s.SignedUpBody, "Account created"), ...errors(401, 409, 413, 415) },
});

export const refresh = createRoute({
  method: post,
  path: "/auth/refresh",
  tags,
  security: [],
  operationId: "refresh",
  summary: "Rotate a refresh token",
  description:
    "Each refresh token works once. Presenting one that was already used revokes the whole session.",
  request: jsonBody(s.RefreshRequest),
  responses: { 200: json(s.TokenPairBody, "New token pair"), ...errors(401, 413, 415) },
});

export const logout = createRoute({
  method: post,
  path: "/auth/logout",
  tags,
  security: bearer,
  operationId: "logout",
  summary: "End the current session",
  responses: { 204: { description: "Logged out" }, ...errors(401) },
});

export const listSessions = createRoute({
  method: "get",
  path: "/auth/sessions",
  tags,
  security: bearer,
  operationId: "listSessions",
  summary: "The account's active sessions",
  responses: { 200: json(s.SessionList, "Sessions"), ...errors(401) },
});

export const deleteSession = createRoute({
  method: "delete",
  path: "/auth/sessions/{session_id}",
  tags,
  security: bearer,
  operationId: "deleteSession",
  summary: "Revoke one session; its tokens stop working at once",
  request: { params: z.object({ session_id: z.string().openapi({ param: { in: "path" } }) }) },
  responses: { 204: { description: "Revoked" }, ...errors(401, 404) },
});

export const me = createRoute({
  method: "get",
  path: "/auth/me",
  tags,
  security: bearer,
  operationId: "me",
  summary: "The calling user",
  responses: { 200: json(UserBody, "Current user"), ...errors(401) },
});
