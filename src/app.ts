import type { OpenAPIHono } from "@hono/zod-openapi";
import { attachmentRoutes } from "./attachments/index.js";
import { authRoutes } from "./auth/index.js";
import { blockRoutes } from "./blocks/index.js";
import { contactRoutes } from "./contacts/index.js";
import { conversationRoutes } from "./conversations/index.js";
import { streamRoutes } from "./delivery/index.js";
import type { Deps } from "./deps.js";
import { deviceRoutes } from "./devices/index.js";
import { type AppEnv, createRouter, requestDefaultsInWords } from "./http/openapi.js";
import { keyRoutes } from "./keys/index.js";
import { linkingRoutes } from "./linking/index.js";
import { messageRoutes } from "./messages/index.js";
import { docsRoutes } from "./ops/docs.js";
import { opsRoutes } from "./ops/index.js";
import { answerErrors, beforeTheApi } from "./pipeline.js";
import { pushRoutes } from "./push/index.js";
import { asyncApiDocument } from "./realtime/asyncapi.js";
import { realtimeRoutes } from "./realtime/index.js";
import { userRoutes } from "./users/index.js";

export const VERSION = "0.1.0";
const API = "/api/v1";

/** Builds the whole HTTP application from its dependencies; binds nothing. */
export function createApp(deps: Deps) {
  // What every request gets besides its handler, in order: src/pipeline.ts. Request ids, security
  // headers, the access log and metrics are the HTTP server's (atTheServer, in server.ts), so
  // GET /healthz runs its handler and nothing else.
  const app = createRouter();

  const api = createRouter();
  beforeTheApi(api, deps, API);
  for (const routes of [
    authRoutes,
    userRoutes,
    deviceRoutes,
    linkingRoutes,
    keyRoutes,
    contactRoutes,
    blockRoutes,
    conversationRoutes,
    messageRoutes,
    attachmentRoutes,
    streamRoutes,
    realtimeRoutes,
    pushRoutes,
  ]) {
    api.route("/", routes(deps));
  }
  app.route("/", opsRoutes(deps, VERSION));
  app.route(API, api);

  app.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", {
    type: "http",
    scheme: "bearer",
    bearerFormat: "JWT",
    description: "The `session_token` from complete-signup, login verification or /auth/refresh.",
  });
  let spec: ReturnType<typeof openApiDocument> | undefined; // built on first request: routes are fixed by then
  app.get("/openapi.json", (c) => {
    spec ??= openApiDocument(app);
    return c.json(spec);
  });
  const asyncApi = asyncApiDocument(VERSION);
  app.get("/asyncapi.json", (c) => c.json(asyncApi));
  app.route("/", docsRoutes());

  answerErrors(app, deps);
  return app;
}

export function openApiDocument(app: OpenAPIHono<AppEnv>) {
  const doc = app.getOpenAPI31Document({
    openapi: "3.1.0",
    info: {
      title: "Hush — HABIBTI v1 API",
      version: VERSION,
      description:
        "Zero-knowledge relay for end-to-end encrypted messaging. The server stores and forwards only " +
        "ciphertext, wrapped keys and public keys. Errors are `{detail, code, fields?}`.",
    },
    // Relative: clients resolve it against wherever they fetched this document, so Swagger UI's
    // "Try it out" calls the server that served it, on any host and port.
    servers: [{ url: "/", description: "The server this document was fetched from" }],
  });
  return requestDefaultsInWords(doc);
}
