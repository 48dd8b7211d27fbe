import { OpenAPIHono, type z } from "@hono/zod-openapi";
import type { ObjectId } from "mongodb";
import type { ZodType } from "zod";
import { AppError, ErrorBody, type ErrorStatus, errorCodes } from "./errors.js";

/** What a request carries through the middleware chain. */
/** The caller, as resolved from its session by the auth gate. */
export interface Auth {
  userId: ObjectId;
  deviceId: string;
  sessionId: ObjectId;
}
export type AppEnv = { Variables: { requestId: string; auth: Auth; clientIp: string } };

/** Turns every zod failure into one VALIDATION_ERROR naming each bad field. */
export function fieldErrors(error: z.ZodError): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const issue of error.issues) {
    const key = issue.path.length ? issue.path.join(".") : "body";
    fields[key] ??= issue.message;
  }
  return fields;
}

export const createRouter = () =>
  new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) {
        const fields = fieldErrors(result.error);
        const names = Object.keys(fields).join(", ");
        throw new AppError("VALIDATION_ERROR", `Invalid request data: ${names}`, fields);
      }
    },
  });

export const bearer = [{ bearerAuth: [] }];

export const jsonBody = <T extends ZodType>(schema: T, description = "JSON body") => ({
  body: { content: { "application/json": { schema } }, required: true, description },
});

export const json = <T extends ZodType>(schema: T, description: string) => ({
  content: { "application/json": { schema } },
  description,
});

const statusText: Record<number, string> = {
  400: "Bad input; `fields` names each bad field",
  401: "Missing, invalid, expired or revoked token",
  403: "Not allowed",
  404: "Not found",
  409: "Conflict with the current state",
  413: "Body too large",
  415: "Body is not JSON",
  426: "Not a WebSocket handshake",
  429: "Rate limited; see Retry-After and X-RateLimit-* headers",
  500: "Unexpected failure, logged with the request id; the body is only the generic message",
};

/** The shared error responses a route can produce, documented with the codes each may carry. */
export function errors(...statuses: ErrorStatus[]) {
  const all = [...new Set<ErrorStatus>([400, ...statuses, 500])];
  return Object.fromEntries(
    all.map((s) => {
      const codes = Object.entries(errorCodes)
        .filter(([, [st]]) => st === s)
        .map(([c]) => `\`${c}\``)
        .join(", ");
      return [s, json(ErrorBody, `${statusText[s] ?? "Error"}. Codes: ${codes}`)];
    }),
  ) as Record<
    ErrorStatus,
    { description: string; content: { "application/json": { schema: typeof ErrorBody } } }
  >;
}
