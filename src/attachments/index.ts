import type { Deps } from "../deps.js";
import { createRouter } from "../http/openapi.js";
import { attachmentHandlers } from "./handlers.js";
import * as r from "./routes.js";

export function attachmentRoutes(deps: Deps) {
  const h = attachmentHandlers(deps);
  return createRouter()
    .openapi(r.uploadAttachment, h.uploadAttachment)
    .openapi(r.downloadAttachment, h.downloadAttachment)
    .openapi(r.deleteAttachment, h.deleteAttachment)
    .openapi(r.createUpload, h.createUpload)
    .openapi(r.getUpload, h.getUpload)
    .openapi(r.putUploadPart, h.putUploadPart)
    .openapi(r.completeUpload, h.completeUpload);
}
