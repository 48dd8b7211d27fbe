import { createHash } from "node:crypto";
import type { Context } from "hono";
import type { ObjectId } from "mongodb";
import { parseId } from "../db/ids.js";
import type { Deps } from "../deps.js";
import { AppError } from "../http/errors.js";
import type { AppEnv, Handlers } from "../http/openapi.js";
import { mayRead } from "./access.js";
import { CHUNK_SIZE, chunkLength, getChunk } from "./chunks.js";
import { body, multipartBody } from "./download.js";
import { formFile } from "./form.js";
import { beyondEnd, ingest, ingestPart, interrupted, partialChunk, tooLarge } from "./ingest.js";
import { attachmentOf, missing, octets, uploadStatus } from "./present.js";
import { parseRange } from "./ranges.js";
import {
  type AttachmentDoc,
  deleteByUploader,
  findAttachment,
  finishUpload,
  notFound,
  openUpload,
} from "./repo.js";
import type * as r from "./routes.js";

/** Room a multipart form may take around its file: boundaries, part headers, a few small fields. */
const FORM_OVERHEAD = 128 * 1024;

/** The handlers of the routes in ./routes.ts, typed by them; ./index.ts wires them. */
export function attachmentHandlers(deps: Deps): Handlers<typeof r> {
  const max = deps.config.ATTACHMENT_MAX_BYTES;

  return {
    uploadAttachment: async (c) => {
      const userId = c.get("auth").userId;
      const type = c.req.header("content-type") ?? "";
      const length = declaredLength(c);
      const stream = c.req.raw.body;
      if (/^application\/octet-stream\s*(;|$)/i.test(type)) {
        if (length !== undefined && length > max) throw tooLarge(max);
        if (!stream || length === 0) throw emptyBody();
        const doc = await ingest(deps, userId, exactly(stream, length), length);
        return c.json(attachmentOf(doc), 201);
      }
      if (/^multipart\/form-data\s*;/i.test(type)) {
        if (length !== undefined && length > max + FORM_OVERHEAD) throw tooLarge(max);
        if (!stream) throw emptyBody();
        const form = formFile(stream, type);
        try {
          const doc = await ingest(deps, userId, await form.file, length, form.finished);
          return c.json(attachmentOf(doc), 201);
        } catch (err) {
          form.stop();
          throw err;
        }
      }
      throw new AppError(
        "UNSUPPORTED_MEDIA_TYPE",
        "Send the bytes as application/octet-stream, or as the file part of multipart/form-data",
      );
    },
    downloadAttachment: async (c) => {
      const id = parseId(c.req.valid("param").attachment_id, "attachment_id");
      const doc = await findAttachment(deps, id);
      if (doc?.state !== "complete" || !(await mayRead(deps, c.get("auth").userId, doc))) throw notFound();
      const etag = `"${doc.sha256}"`;
      const headers = { ETag: etag, "Accept-Ranges": "bytes" };
      const { range, "if-range": ifRange } = c.req.valid("header");
      const asked = parseRange(range, doc.size, { given: ifRange, etag });
      const db = deps.store.db;
      if (asked.kind === "unsatisfiable") {
        throw new AppError("RANGE_NOT_SATISFIABLE", asked.reason, undefined, {
          "Content-Range": `bytes */${doc.size}`,
        });
      }
      if (asked.kind === "full") {
        const { stream, length } = body(db, doc, { start: 0, end: doc.size - 1 });
        return c.body(stream, 200, { ...headers, ...octets(length) });
      }
      const [only, ...more] = asked.ranges;
      if (only && more.length === 0) {
        const { stream, length } = body(db, doc, only);
        return c.body(stream, 206, {
          ...headers,
          ...octets(length),
          "Content-Range": `bytes ${only.start}-${only.end}/${doc.size}`,
        });
      }
      const { stream, length, type } = multipartBody(db, doc, asked.ranges);
      return c.body(stream, 206, { ...headers, "Content-Type": type, "Content-Length": String(length) });
    },
    deleteAttachment: async (c) => {
      const id = parseId(c.req.valid("param").attachment_id, "attachment_id");
      await deleteByUploader(deps, c.get("auth").userId, id);
      return c.body(null, 204);
    },
    createUpload: async (c) => {
      const { size } = c.req.valid("json");
      if (size > max) {
        throw new AppError("PAYLOAD_TOO_LARGE", `An attachment is at most ${max} bytes`, {
          size: `must be at most ${max}`,
        });
      }
      const doc = await openUpload(deps, c.get("auth").userId, size, true);
      return c.json(uploadStatus(doc), 201);
    },
    getUpload: async (c) => {
      const doc = await ownUpload(deps, c.get("auth").userId, c.req.valid("param").upload_id);
      return c.json(uploadStatus(doc), 200);
    },
    putUploadPart: async (c) => {
      const doc = await ownUpload(deps, c.get("auth").userId, c.req.valid("param").upload_id);
      if (doc.state !== "uploading") throw new AppError("INVALID_STATE", "This upload is already complete");
      const { offset } = c.req.valid("query");
      if (offset >= doc.size) {
        throw new AppError("VALIDATION_ERROR", `offset is past the end of the ${doc.size}-byte upload`, {
          offset: `must be below ${doc.size}`,
        });
      }
      if (!/^application\/octet-stream\s*(;|$)/i.test(c.req.header("content-type") ?? "")) {
        throw new AppError("UNSUPPORTED_MEDIA_TYPE", "Send the part as application/octet-stream");
      }
      const length = declaredLength(c);
      if (length !== undefined) {
        if (offset + length > doc.size) throw beyondEnd(doc.size);
        if (length % CHUNK_SIZE !== 0 && offset + length !== doc.size) throw partialChunk();
      }
      const stream = c.req.raw.body;
      if (!stream || length === 0) throw emptyBody();
      await ingestPart(deps, doc, offset, exactly(stream, length));
      return c.json(uploadStatus((await findAttachment(deps, doc._id)) ?? doc), 200);
    },
    completeUpload: async (c) => {
      const doc = await ownUpload(deps, c.get("auth").userId, c.req.valid("param").upload_id);
      if (doc.state === "complete") return c.json(attachmentOf(doc), 200);
      const gap = missing(doc)[0];
      if (gap) {
        throw new AppError(
          "INVALID_STATE",
          `Bytes from offset ${gap.offset} (${gap.length} bytes) have not arrived; see the upload's status`,
        );
      }
      const sha256 = await digest(deps, doc);
      const done = await finishUpload(deps, doc._id, doc.size, sha256);
      // Completed twice at once: the other call finished it.
      const now = done ?? (await ownUpload(deps, c.get("auth").userId, c.req.valid("param").upload_id));
      if (now.state !== "complete") throw notFound();
      return c.json(attachmentOf(now), 200);
    },
  };
}

const emptyBody = () => new AppError("VALIDATION_ERROR", "The body is empty", { body: "must not be empty" });

function declaredLength(c: Context<AppEnv>): number | undefined {
  if (c.req.header("transfer-encoding") !== undefined) return undefined;
  const header = c.req.header("content-length");
  return header === undefined ? undefined : Number(header);
}

/**
 * Reads a request body piece by piece without ever cancelling it: cancelling would destroy the
 * socket before an early answer (a 413 mid-stream) could be sent. A body that ends short of its
 * Content-Length (the client went away) is a failure, not a shorter file.
 */
async function* exactly(body: ReadableStream<Uint8Array>, length: number | undefined) {
  const reader = body.getReader();
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read().catch(() => {
        throw interrupted();
      });
      if (done) break;
      total += value.length;
      yield value;
    }
  } finally {
    reader.releaseLock();
  }
  if (length !== undefined && total !== length) throw interrupted();
}

async function ownUpload(deps: Deps, userId: ObjectId, hexId: string) {
  const doc = await findAttachment(deps, parseId(hexId, "upload_id"));
  if (!doc?.resumable || !doc.uploader_id.equals(userId) || doc.state === "erasing") throw notFound();
  return doc;
}

/** Reads the upload's chunks in order and hashes them, checking each is there at its full length. */
async function digest(deps: Deps, doc: AttachmentDoc) {
  const hash = createHash("sha256");
  for (let n = 0; n < doc.chunk_count; n++) {
    const chunk = await getChunk(deps.store.db, doc._id, n);
    if (!chunk || chunk.length !== chunkLength(doc.size, n)) {
      throw new AppError("INVALID_STATE", `The chunk at offset ${n * CHUNK_SIZE} is missing; send it again`);
    }
    hash.update(chunk);
  }
  return hash.digest("hex");
}
