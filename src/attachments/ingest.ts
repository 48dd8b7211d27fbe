import { createHash } from "node:crypto";
import type { Deps } from "../deps.js";
import { AppError } from "../http/errors.js";
import { CHUNK_SIZE, putChunk } from "./chunks.js";
import {
  type AttachmentDoc,
  eraseAttachment,
  finishUpload,
  growUpload,
  markReceived,
  openUpload,
} from "./repo.js";

/** How much more of the quota a streamed upload of unannounced length reserves each time it runs out. */
const RESERVE_STEP = 16 * 1024 * 1024;

export const tooLarge = (max: number) =>
  new AppError("PAYLOAD_TOO_LARGE", `An attachment is at most ${max} bytes`);

/**
 * Cuts arriving bytes into chunks and hands each full one to `store` as soon as it is complete,
 * with one write in flight while the next chunk fills: memory stays at two chunks whatever the
 * size. Returns the byte count and what is left over (the last, partial chunk).
 */
async function cut(
  source: AsyncIterable<Uint8Array>,
  onBytes: (total: number, piece: Uint8Array) => Promise<void> | void,
  store: (n: number, data: Buffer) => Promise<void>,
) {
  let buffer = Buffer.allocUnsafe(CHUNK_SIZE);
  let fill = 0;
  let n = 0;
  let total = 0;
  let inFlight: Promise<void> = Promise.resolve();
  try {
    for await (const piece of source) {
      total += piece.length;
      await onBytes(total, piece);
      let at = 0;
      while (at < piece.length) {
        const take = Math.min(CHUNK_SIZE - fill, piece.length - at);
        buffer.set(piece.subarray(at, at + take), fill);
        fill += take;
        at += take;
        if (fill === CHUNK_SIZE) {
          await inFlight;
          inFlight = store(n++, buffer);
          buffer = Buffer.allocUnsafe(CHUNK_SIZE);
          fill = 0;
        }
      }
    }
  } finally {
    await inFlight.catch(() => {}); // settled before anyone erases what it wrote
  }
  await inFlight;
  return { total, chunks: n, rest: buffer.subarray(0, fill) };
}

/**
 * Streams one upload into a new attachment. `declared` is the body's announced length, if any
 * (checked against the cap before this is called); without one, the quota is reserved 16 MiB at a
 * time as bytes arrive. `finished` settles when the enclosing body has been read to its end
 * (a multipart form's closing boundary). Anything that fails, the client going away included,
 * erases every chunk written and the upload with them; a crash leaves an upload that expires.
 */
export async function ingest(
  deps: Deps,
  userId: AttachmentDoc["uploader_id"],
  source: AsyncIterable<Uint8Array>,
  declared: number | undefined,
  finished: Promise<unknown> = Promise.resolve(),
) {
  const max = deps.config.ATTACHMENT_MAX_BYTES;
  const doc = await openUpload(deps, userId, declared ?? Math.min(max, RESERVE_STEP), false);
  const db = deps.store.db;
  const hash = createHash("sha256");
  try {
    const { total, chunks, rest } = await cut(
      source,
      async (total, piece) => {
        if (total > max) throw tooLarge(max);
        if (total > doc.size) await growUpload(deps, doc, Math.min(max, doc.size + RESERVE_STEP));
        hash.update(piece);
      },
      async (n, data) => {
        await putChunk(db, doc._id, n, data);
      },
    );
    if (total === 0) throw new AppError("VALIDATION_ERROR", "The attachment is empty", { file: "is empty" });
    if (rest.length) await putChunk(db, doc._id, chunks, rest);
    await finished;
    const done = await finishUpload(deps, doc._id, total, hash.digest("hex"));
    if (!done) throw new AppError("NOT_FOUND", "The upload was erased before it completed");
    return done;
  } catch (err) {
    await eraseAttachment(deps, doc);
    throw err;
  }
}

/**
 * Stores part of a resumable upload starting at `offset` (a multiple of the chunk size): every
 * whole chunk as it completes, and a final partial one only where the upload ends. A chunk sent
 * again must carry the same bytes. Returns how many bytes arrived.
 */
export async function ingestPart(
  deps: Deps,
  doc: AttachmentDoc,
  offset: number,
  source: AsyncIterable<Uint8Array>,
) {
  const db = deps.store.db;
  const first = offset / CHUNK_SIZE;
  const room = doc.size - offset;
  const store = async (n: number, data: Uint8Array) => {
    const put = await putChunk(db, doc._id, first + n, data);
    if (put === "differs") {
      throw new AppError(
        "INVALID_STATE",
        `The chunk at offset ${(first + n) * CHUNK_SIZE} was already stored with different bytes`,
      );
    }
    await markReceived(deps, doc._id, first + n);
  };
  const { total, chunks, rest } = await cut(
    source,
    (total) => {
      if (total > room) throw beyondEnd(doc.size);
    },
    store,
  );
  if (rest.length) {
    if (offset + total !== doc.size) throw partialChunk();
    await store(chunks, rest);
  }
  return total;
}

export const beyondEnd = (size: number) =>
  new AppError("PAYLOAD_TOO_LARGE", `This part goes past the end of the ${size}-byte upload`);
export const partialChunk = () =>
  new AppError(
    "VALIDATION_ERROR",
    `A part is a whole number of ${CHUNK_SIZE}-byte chunks, or reaches the end of the upload`,
    { body: `length must be a multiple of ${CHUNK_SIZE} unless the part ends the upload` },
  );

/** The request body broke off (the client went away): nobody will read the answer, but it is not a 500. */
export const interrupted = () =>
  new AppError("VALIDATION_ERROR", "The body ended before it was complete", { body: "interrupted" });
