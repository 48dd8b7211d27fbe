import { z } from "@hono/zod-openapi";
import { ATTACHMENT_BYTES_CEILING } from "../config.js";
import {
  bearer,
  binary,
  integer,
  json,
  jsonBody,
  type OwnHeader,
  route,
  Timestamp,
} from "../http/openapi.js";
import { Id } from "../users/schemas.js";
import { CHUNK_SIZE } from "./chunks.js";
import { MAX_RANGES } from "./ranges.js";
import { MAX_PENDING_UPLOADS } from "./repo.js";

const tags = ["Attachments"];

const Sha256 = z
  .string()
  .regex(/^[0-9a-f]{64}$/)
  .openapi({
    description: "SHA-256 of the stored bytes, lowercase hex",
    example: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
  });

export const Attachment = z
  .object({
    id: Id,
    size: z.number().int().min(1).openapi({ description: "Bytes stored", format: "int64" }),
    sha256: Sha256,
    expires_at: Timestamp.nullable().openapi({
      description: "When it is erased unless a message takes it first; null once a message owns it",
    }),
  })
  .openapi("Attachment");

const AttachmentIdParam = z.object({
  attachment_id: Id.openapi({ param: { name: "attachment_id", in: "path" } }),
});
const UploadIdParam = z.object({
  upload_id: Id.openapi({ param: { name: "upload_id", in: "path" } }),
});

const bytesSchema = { type: "string" as const, format: "binary" };
const lifecycle =
  "An attachment no message owns is erased `ATTACHMENT_TTL` seconds (default 24 h) after it is complete; " +
  "a message that takes it (`attachment_ids`) keeps it for as long as the message exists.";
const limits =
  "At most `ATTACHMENT_MAX_BYTES` (default 100 MiB): a larger announced Content-Length is refused before " +
  "anything is read, and a body that runs past the limit is cut off there, whatever it announced (413 " +
  "`PAYLOAD_TOO_LARGE`). Everything an account has stored or reserved counts against its " +
  `\`ATTACHMENT_QUOTA_BYTES\` (409 \`QUOTA_EXCEEDED\`), and it may have ${MAX_PENDING_UPLOADS} unfinished ` +
  "uploads at once. An upload that fails or is interrupted leaves nothing behind.";

export const uploadAttachment = route({
  method: "post",
  path: "/attachments",
  tags,
  security: bearer,
  operationId: "uploadAttachment",
  summary: "Upload an encrypted attachment in one request",
  description:
    "The client encrypts the file itself and uploads the opaque result; the id, the key and the digest go " +
    "inside the encrypted message (see docs/attachments.md). The body is the raw bytes " +
    "(`application/octet-stream`). For browsers' and PuffinTalk's forms the same operation also takes a " +
    "`multipart/form-data` body whose `file` part holds the bytes (other parts are ignored); it is left " +
    "out of this declaration because one operation with two body types breaks generated clients. Either " +
    "is streamed into the store as it arrives. An empty body, or an empty `file`, is a 400 " +
    "`VALIDATION_ERROR` (`body`). " +
    `${limits} ${lifecycle} For large files on unreliable networks use a resumable upload ` +
    "(`POST /attachments/uploads`).",
  request: {
    body: {
      required: true,
      description: "The encrypted bytes: at least one",
      content: { "application/octet-stream": { schema: bytesSchema } },
    },
  },
  responses: { 201: json(Attachment, "Stored") },
  errors: ["QUOTA_EXCEEDED", "NOT_FOUND"],
});

const etag: OwnHeader = {
  description: "The attachment's SHA-256 (hex), quoted: a strong validator, usable in If-Range",
  schema: { type: "string", pattern: '^"[0-9a-f]{64}"$' },
  check: z.string().regex(/^"[0-9a-f]{64}"$/),
  required: true,
};
const acceptRanges: OwnHeader = {
  description: "Always `bytes`: any byte range may be asked for",
  schema: { type: "string", pattern: "^bytes$" },
  check: z.literal("bytes"),
  required: true,
};
const contentLength: OwnHeader = { description: "Bytes in this body", ...integer(0), required: true };

export const downloadAttachment = route({
  method: "get",
  path: "/attachments/{attachment_id}",
  tags,
  security: bearer,
  operationId: "downloadAttachment",
  summary: "Download an attachment, whole or by byte ranges",
  description:
    "Streamed as `application/octet-stream`. Allowed to its uploader and to the members of the " +
    "conversation holding the message that carries it who joined before that message, unless the " +
    "uploader has blocked them; to anyone else it does not exist (404). An unfinished upload is not " +
    "there yet (404). `Range: bytes=...` is honoured (first bytes, a middle range, a suffix `-n`, open " +
    `ends): one range comes back as a 206 with Content-Range; several (at most ${MAX_RANGES}; overlapping ` +
    "ones merged) as a 206 `multipart/byteranges` whose parts each carry their Content-Range. A malformed " +
    "range, or none that starts within the attachment, is a 416 whose Content-Range gives the size. With " +
    "`If-Range` other than the current ETag the whole attachment comes back, as HTTP asks, so an " +
    "interrupted download resumes safely.",
  request: {
    params: AttachmentIdParam,
    headers: z.object({
      range: z
        .string()
        .optional()
        .openapi({ description: "e.g. `bytes=0-1023`, `bytes=-512`, `bytes=0-9,20-29`" }),
      "if-range": z.string().optional().openapi({ description: "The ETag the client's partial copy has" }),
    }),
  },
  responses: {
    200: binary("The whole attachment", ["application/octet-stream"], {
      "Content-Length": contentLength,
      ETag: etag,
      "Accept-Ranges": acceptRanges,
    }),
    206: binary(
      "The requested range(s): one range as octet-stream with Content-Range, several as multipart/byteranges",
      ["application/octet-stream", "multipart/byteranges"],
      {
        "Content-Length": contentLength,
        ETag: etag,
        "Accept-Ranges": acceptRanges,
        "Content-Range": {
          description:
            "`bytes <first>-<last>/<size>`, on a single range (each part carries its own otherwise)",
          schema: { type: "string", pattern: "^bytes \\d+-\\d+/\\d+$" },
          check: z.string().regex(/^bytes \d+-\d+\/\d+$/),
          required: false,
        },
      },
    ),
  },
  errors: ["NOT_FOUND", "RANGE_NOT_SATISFIABLE"],
});

export const deleteAttachment = route({
  method: "delete",
  path: "/attachments/{attachment_id}",
  tags,
  security: bearer,
  operationId: "deleteAttachment",
  summary: "Erase an attachment no message owns, or cancel an unfinished upload",
  description:
    "Uploader only (404 to anyone else). Frees its bytes from the quota at once. An attachment a message " +
    "owns goes with the message (409 `INVALID_STATE`).",
  request: { params: AttachmentIdParam },
  responses: { 204: { description: "Erased, with its bytes" } },
  errors: ["NOT_FOUND", "INVALID_STATE"],
});

// Resumable uploads (UMOC's prepare/complete): open one with the size, send parts at chunk-aligned
// offsets in any order and as often as needed, then complete it.

export const CreateUpload = z
  .object({
    size: z
      .number()
      .int()
      .min(1)
      .max(ATTACHMENT_BYTES_CEILING)
      .openapi({
        format: "int64",
        description:
          "Exact size of the encrypted file, in bytes. Above the server's `ATTACHMENT_MAX_BYTES` (default " +
          `100 MiB, at most ${ATTACHMENT_BYTES_CEILING}) it is a 413 \`PAYLOAD_TOO_LARGE\`.`,
      }),
  })
  .strict()
  .openapi("CreateUploadRequest");

const Missing = z
  .object({
    offset: z.number().int().min(0).openapi({ format: "int64" }),
    length: z.number().int().min(1).openapi({ format: "int64" }),
  })
  .openapi("ByteSpan", { description: "A run of bytes not yet received" });

export const UploadStatus = z
  .object({
    id: Id.openapi({ description: "The upload's id, which becomes the attachment's id" }),
    size: z.number().int().min(1).openapi({ format: "int64" }),
    chunk_size: z
      .number()
      .int()
      .openapi({
        description: `Parts start at multiples of this (${CHUNK_SIZE} bytes)`,
        example: CHUNK_SIZE,
      }),
    received_bytes: z.number().int().min(0).openapi({ format: "int64" }),
    missing: z
      .array(Missing)
      .openapi({ description: "What is still to send, in order; empty when complete" }),
    complete: z.boolean().openapi({ description: "True once completed: it is then an attachment" }),
    upload_url: z.string().openapi({
      description: "Where parts go: PUT with `?offset=`",
      example: "/api/v1/attachments/uploads/65a1b2c3d4e5f6a7b8c9d0e1",
    }),
    expires_at: Timestamp.nullable().openapi({
      description: "When it is erased unless completed and then taken by a message",
    }),
  })
  .openapi("UploadStatus");

export const createUpload = route({
  method: "post",
  path: "/attachments/uploads",
  tags,
  security: bearer,
  operationId: "createUpload",
  summary: "Open a resumable upload",
  description:
    "Reserves `size` bytes of the caller's quota and answers where to send the parts and in what chunk " +
    "size. A part interrupted half way keeps every whole chunk it delivered: ask the upload's status and " +
    `send what is missing. ${limits} An unfinished upload is erased \`ATTACHMENT_TTL\` seconds after it ` +
    "was opened.",
  request: jsonBody(CreateUpload),
  responses: { 201: json(UploadStatus, "Opened; nothing received yet") },
  errors: ["QUOTA_EXCEEDED"],
});

export const getUpload = route({
  method: "get",
  path: "/attachments/uploads/{upload_id}",
  tags,
  security: bearer,
  operationId: "getUpload",
  summary: "What a resumable upload has received and what is missing",
  description: "Uploader only (404 to anyone else).",
  request: { params: UploadIdParam },
  responses: { 200: json(UploadStatus, "Its progress") },
  errors: ["NOT_FOUND"],
});

export const UploadPartQuery = z.object({
  offset: z.coerce
    .number()
    .int()
    .min(0)
    .max(ATTACHMENT_BYTES_CEILING)
    .refine((n) => n % CHUNK_SIZE === 0, `must be a multiple of the chunk size, ${CHUNK_SIZE}`)
    .openapi({
      param: { in: "query", required: true },
      type: "integer",
      minimum: 0,
      maximum: ATTACHMENT_BYTES_CEILING,
      format: "int64",
      multipleOf: CHUNK_SIZE,
      description: `Where this part starts: a multiple of ${CHUNK_SIZE} (required)`,
      example: 0,
    }),
});

export const putUploadPart = route({
  method: "put",
  path: "/attachments/uploads/{upload_id}",
  tags,
  security: bearer,
  operationId: "putUploadPart",
  summary: "Send part of a resumable upload",
  description:
    "The body (`application/octet-stream`) holds the bytes from `offset` on: a whole number of chunks, or " +
    "up to the end of the upload. Parts may come in any order, and again: a chunk sent twice must carry " +
    "the same bytes (409 `INVALID_STATE` otherwise). Each chunk is kept as soon as it has fully arrived, " +
    "so a part cut off half way keeps what it delivered. A part that runs past the upload's size is a 413. " +
    "An empty body is a 400 `VALIDATION_ERROR` (`body`).",
  request: {
    params: UploadIdParam,
    query: UploadPartQuery,
    body: {
      required: true,
      description: "The bytes from offset on: at least one",
      content: { "application/octet-stream": { schema: bytesSchema } },
    },
  },
  responses: { 200: json(UploadStatus, "Stored; what is still missing") },
  errors: ["NOT_FOUND", "INVALID_STATE"],
});

export const completeUpload = route({
  method: "post",
  path: "/attachments/uploads/{upload_id}/complete",
  tags,
  security: bearer,
  operationId: "completeUpload",
  summary: "Complete a resumable upload: it becomes an attachment",
  description:
    "Every chunk must have arrived (409 `INVALID_STATE` naming the first missing offset). Computes the " +
    "SHA-256 over the stored bytes; the client compares it with its own. Completing again answers the " +
    `same attachment. ${lifecycle}`,
  request: { params: UploadIdParam },
  responses: { 200: json(Attachment, "The attachment") },
  errors: ["NOT_FOUND", "INVALID_STATE"],
});
