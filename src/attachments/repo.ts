import type { Db, ObjectId } from "mongodb";
import { newId } from "../db/ids.js";
import { owned } from "../db/owned.js";
import type { Deps } from "../deps.js";
import { AppError } from "../http/errors.js";
import { chunkCount, eraseChunks } from "./chunks.js";

/** Unfinished uploads (streamed or resumable) one account may have open at once. */
export const MAX_PENDING_UPLOADS = 10;

export interface AttachmentDoc {
  _id: ObjectId;
  uploader_id: ObjectId;
  /** `erasing`: its chunks are being erased; it is gone for every reader. */
  state: "uploading" | "complete" | "erasing";
  /** The size once complete; while uploading, the bytes reserved against the uploader's quota. */
  size: number;
  /** How many chunk ids may exist: erasure walks 0..chunk_count-1. */
  chunk_count: number;
  resumable: boolean;
  /** Resumable uploads: the chunk numbers stored so far. */
  received: number[];
  /** Hex SHA-256 of the bytes, once complete. */
  sha256: string | null;
  created_at: Date;
  /** Null once a message owns it: it then goes with the message. */
  expires_at: Date | null;
  /** The message that owns it, its conversation and its position there (src/attachments/owners.ts). */
  message_id: ObjectId | null;
  conversation_id: ObjectId | null;
  message_seq: number | null;
  message_expires_at?: Date | null;
}

export const attachments = owned<AttachmentDoc>({
  name: "attachments",
  owner: "attachments",
  holds:
    "one attachment's metadata: uploader, size, SHA-256, state, the message owning it; its bytes are in `attachment_chunks`",
  indexes: [
    { key: { uploader_id: 1, state: 1 } },
    { key: { message_id: 1 } },
    { key: { conversation_id: 1 } },
  ],
  expires: true,
  onExpiry:
    "erased with its chunks `ATTACHMENT_TTL` after upload while no message owns it (unfinished uploads " +
    "too); one a message owns goes with the message (deleted for everyone) or with its conversation " +
    "(erased when the last member leaves)",
  onAccountDeletion: "the account's uploads are erased with their chunks, those its messages carry included",
  eraseAccount: (_col, account, deps) => eraseWhere(deps.store.db, { uploader_id: account._id }, new Date()),
  eraseConversation: (_col, id, deps) => eraseWhere(deps.store.db, { conversation_id: id }, new Date()),
  expire: (deps, now) => eraseWhere(deps.store.db, { expires_at: { $lte: now } }, now),
  ttlBackstop: false,
});
const col = (deps: Deps) => attachments.col(deps.store.db);

const BATCH = 20;

/**
 * Erases every attachment the filter matches, chunks first and the document last, a batch at a
 * time: a crash half way leaves a document marked `erasing` whose `expires_at` has passed, which
 * the next sweep finishes. Marking first also settles a race with a message claiming it (the claim
 * needs `complete`). Returns how many documents went.
 */
export async function eraseWhere(db: Db, filter: Record<string, unknown>, now: Date) {
  const c = attachments.col(db);
  let erased = 0;
  for (;;) {
    const batch = await c.find(filter, { projection: { chunk_count: 1 }, limit: BATCH }).toArray();
    for (const doc of batch) {
      const marked = await c.updateOne(
        { _id: doc._id, ...filter },
        { $set: { state: "erasing", expires_at: now } },
      );
      if (marked.matchedCount) erased += await eraseMarked(db, doc);
    }
    if (batch.length < BATCH) return erased;
  }
}

async function eraseMarked(db: Db, doc: Pick<AttachmentDoc, "_id" | "chunk_count">) {
  await eraseChunks(db, doc._id, doc.chunk_count);
  return (await attachments.col(db).deleteOne({ _id: doc._id })).deletedCount;
}

export const findAttachment = (deps: Deps, id: ObjectId) => col(deps).findOne({ _id: id });

/** The bytes an account holds (complete and reserved) and how many uploads it has unfinished. */
async function usage(deps: Deps, userId: ObjectId) {
  // Counted apart: the local store's $group answers 0 for `{$sum: 1}`.
  const [rows, pending] = await Promise.all([
    col(deps)
      .aggregate<{ bytes: number }>([
        { $match: { uploader_id: userId } },
        { $group: { _id: null, bytes: { $sum: "$size" } } },
      ])
      .toArray(),
    col(deps).countDocuments({ uploader_id: userId, state: "uploading" }),
  ]);
  return { bytes: rows[0]?.bytes ?? 0, pending };
}

/**
 * Refuses when the account is over its quota or has too many unfinished uploads, counting the
 * reservation just written: insert (or grow), then check, then undo. Concurrent uploads can both
 * be refused near the limit, but never both let through past it.
 */
async function assertWithinQuota(deps: Deps, userId: ObjectId) {
  const quota = deps.config.ATTACHMENT_QUOTA_BYTES;
  const { bytes, pending } = await usage(deps, userId);
  if (pending > MAX_PENDING_UPLOADS) {
    throw new AppError(
      "QUOTA_EXCEEDED",
      `At most ${MAX_PENDING_UPLOADS} unfinished uploads at once; complete or delete one first`,
    );
  }
  if (bytes > quota) {
    throw new AppError(
      "QUOTA_EXCEEDED",
      `This upload would bring your attachments to ${bytes} bytes; the quota is ${quota} bytes`,
    );
  }
}

/** Opens an upload that reserves `size` bytes of the uploader's quota. */
export async function openUpload(deps: Deps, userId: ObjectId, size: number, resumable: boolean) {
  const now = deps.clock.now();
  const doc: AttachmentDoc = {
    // All 12 bytes random: an attachment id is all a download names, so none may be guessed from another.
    _id: newId(),
    uploader_id: userId,
    state: "uploading",
    size,
    chunk_count: chunkCount(size),
    resumable,
    received: [],
    sha256: null,
    created_at: now,
    expires_at: new Date(now.getTime() + deps.config.ATTACHMENT_TTL * 1000),
    message_id: null,
    conversation_id: null,
    message_seq: null,
    message_expires_at: null,
  };
  await col(deps).insertOne(doc);
  try {
    await assertWithinQuota(deps, userId);
  } catch (err) {
    await eraseMarked(deps.store.db, doc);
    throw err;
  }
  return doc;
}

/** Raises a streamed upload's reservation (its length was not announced) and checks the quota again. */
export async function growUpload(deps: Deps, doc: AttachmentDoc, size: number) {
  const grown = await col(deps).updateOne(
    { _id: doc._id },
    { $set: { size, chunk_count: chunkCount(size) } },
  );
  if (!grown.matchedCount) throw new AppError("NOT_FOUND", "The upload was erased");
  doc.size = size;
  doc.chunk_count = chunkCount(size);
  await assertWithinQuota(deps, doc.uploader_id);
}

export async function markReceived(deps: Deps, id: ObjectId, n: number) {
  await col(deps).updateOne({ _id: id }, { $addToSet: { received: n } });
}

/**
 * Turns an upload into an attachment of `size` bytes: the reservation shrinks to what was stored.
 * False when the upload was erased meanwhile (expired, deleted, its account gone).
 */
export async function finishUpload(deps: Deps, id: ObjectId, size: number, sha256: string) {
  const now = deps.clock.now();
  const done = await col(deps).findOneAndUpdate(
    { _id: id, state: "uploading" },
    {
      $set: {
        state: "complete",
        size,
        chunk_count: chunkCount(size),
        sha256,
        received: [],
        expires_at: new Date(now.getTime() + deps.config.ATTACHMENT_TTL * 1000),
      },
    },
    { returnDocument: "after" },
  );
  return done;
}

/** Erases one attachment or upload now (an upload that failed, a user's deletion). */
export async function eraseAttachment(deps: Deps, doc: Pick<AttachmentDoc, "_id" | "chunk_count">) {
  await col(deps).updateOne({ _id: doc._id }, { $set: { state: "erasing", expires_at: deps.clock.now() } });
  await eraseMarked(deps.store.db, doc);
}

/**
 * The uploader erases an attachment no message owns, or an unfinished upload. Owned ones go with
 * their message. Compare-and-set, so a message claiming it at the same moment wins or loses whole.
 */
export async function deleteByUploader(deps: Deps, userId: ObjectId, id: ObjectId) {
  const marked = await col(deps).findOneAndUpdate(
    { _id: id, uploader_id: userId, message_id: null, state: { $in: ["uploading", "complete"] } },
    { $set: { state: "erasing", expires_at: deps.clock.now() } },
  );
  if (marked) return eraseMarked(deps.store.db, marked);
  const doc = await findAttachment(deps, id);
  if (!doc?.uploader_id.equals(userId) || doc.state === "erasing") throw notFound();
  throw new AppError("INVALID_STATE", "A message owns this attachment; it goes when the message does");
}

export const notFound = () => new AppError("NOT_FOUND", "Attachment not found");
