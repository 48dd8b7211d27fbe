import { z } from "@hono/zod-openapi";

/** The closed set of error codes and the one place they map to HTTP statuses and default texts. */
export const errorCodes = {
  VALIDATION_ERROR: [400, "Invalid request data"],
  INVALID_JSON: [400, "Malformed JSON in request body"],
  INVALID_ID: [400, "Invalid id"],
  OTP_INVALID: [400, "Invalid OTP code"],
  OTP_EXPIRED: [400, "OTP has expired; request a new one"],
  OTP_USED: [400, "OTP has already been used"],
  INVALID_KEY: [400, "Invalid public key"],
  INVALID_SIGNATURE: [400, "Signature does not verify against the device identity key"],
  UNAUTHORIZED: [401, "Invalid or expired token"],
  REFRESH_TOKEN_REUSED: [401, "Refresh token was already used; the session has been revoked"],
  FORBIDDEN: [403, "Not authorized to perform this action"],
  REGISTRATION_CLOSED: [403, "This server does not take new accounts"],
  INVITE_REQUIRED: [403, "Signing up on this server needs an invite code"],
  INVITE_INVALID: [403, "This invite code is unknown, used up, revoked or expired"],
  EMAIL_DOMAIN_NOT_ALLOWED: [403, "Sign-up on this server is limited to some email domains"],
  ACCOUNT_SUSPENDED: [403, "This account is suspended by the server's operator"],
  NOT_FOUND: [404, "Resource not found"],
  USER_NOT_FOUND: [404, "User not found"],
  METHOD_NOT_ALLOWED: [405, "Method not allowed on this path; see the Allow header"],
  CONFLICT: [409, "Resource already exists"],
  EMAIL_TAKEN: [409, "An account with this email already exists"],
  USERNAME_TAKEN: [409, "Username is already taken"],
  DEVICE_LIMIT_REACHED: [409, "Device limit reached; remove a device first"],
  PREKEY_LIMIT_REACHED: [409, "Too many one-time prekeys stored for this device"],
  INVALID_STATE: [409, "Not possible in the current state"],
  QUOTA_EXCEEDED: [409, "Attachment storage quota exceeded; erase unsent attachments or let them expire"],
  DEVICE_MISMATCH: [409, "recipient_keys must name exactly the current devices"],
  VIEW_ONCE_OPENED: [410, "This view-once message was already opened on this device"],
  STALE_DEVICES: [410, "Some devices re-registered since their keys were fetched; see stale_devices"],
  PAYLOAD_TOO_LARGE: [413, "Request body too large"],
  UNSUPPORTED_MEDIA_TYPE: [415, "Content-Type must be application/json"],
  RANGE_NOT_SATISFIABLE: [416, "No requested range lies within the attachment; see Content-Range"],
  UPGRADE_REQUIRED: [426, "This endpoint speaks WebSocket only; send an Upgrade: websocket handshake"],
  RATE_LIMITED: [429, "Rate limit exceeded"],
  OTP_ATTEMPTS_EXCEEDED: [429, "Too many OTP verification attempts"],
  INTERNAL_ERROR: [500, "An unexpected error occurred"],
  STORE_UNAVAILABLE: [
    503,
    "The database is unreachable, too slow or cannot write; retry after Retry-After seconds",
  ],
} as const;

export type ErrorCode = keyof typeof errorCodes;
export type ErrorStatus = (typeof errorCodes)[ErrorCode][0];
export const statusOf = (code: ErrorCode): ErrorStatus => errorCodes[code][0];

/** A device as an error names it: which devices a sender must add, drop or re-fetch keys for. */
export interface DeviceRef {
  user_id: string;
  device_id: string;
}
/** Lists some codes carry besides `detail`, `code` and `fields`. */
export interface ErrorExtras {
  missing_devices?: DeviceRef[];
  extra_devices?: DeviceRef[];
  stale_devices?: DeviceRef[];
}

/** The only error type handlers throw; `app.onError` turns it into HABIBTI's `{detail, code}` body. */
export class AppError extends Error {
  readonly status: ErrorStatus;
  constructor(
    readonly code: ErrorCode,
    detail?: string,
    readonly fields?: Record<string, string>,
    readonly headers?: Record<string, string>,
    readonly extras?: ErrorExtras,
  ) {
    super(detail ?? errorCodes[code][1]);
    this.status = errorCodes[code][0];
  }
}

const DeviceRefBody = z
  .object({ user_id: z.string(), device_id: z.string() })
  .openapi("DeviceRef", { description: "One device of one user" });
const deviceList = (description: string) => z.array(DeviceRefBody).optional().openapi({ description });

export const ErrorCodeSchema = z
  .enum(Object.keys(errorCodes) as [ErrorCode, ...ErrorCode[]])
  .openapi("ErrorCode", {
    description: "Stable machine-readable error code. Each operation lists the codes it can answer with.",
  });

export const ErrorBody = z
  .object({
    detail: z.string().openapi({ description: "Human-readable message" }),
    code: ErrorCodeSchema,
    fields: z
      .record(z.string(), z.string())
      .optional()
      .openapi({ description: "On 400s: each bad field (dotted path) and what is wrong with it" }),
    missing_devices: deviceList("DEVICE_MISMATCH: current devices the request left out"),
    extra_devices: deviceList("DEVICE_MISMATCH: named devices that are not (or no longer) recipients"),
    stale_devices: deviceList("STALE_DEVICES: devices that re-registered since their keys were fetched"),
  })
  .openapi("ErrorResponse", {
    example: { detail: "Invalid request data", code: "VALIDATION_ERROR", fields: { email: "Invalid email" } },
  });

export const errorBody = (e: AppError) => ({
  detail: e.message,
  code: e.code,
  ...(e.fields ? { fields: e.fields } : {}),
  ...e.extras,
});
