import { Binary, type Db, type ObjectId } from "mongodb";
import { isDuplicateKey } from "../db/ids.js";
import { never, owned } from "../db/owned.js";

/**
 * An attachment's bytes, cut into fixed-size chunks, each its own document. A chunk's `_id` is
 * computed from the attachment id and its number, so any byte range is found by `_id` equality
 * alone: one lookup per chunk it touches, which both stores serve from an index whatever else is
 * stored (docs/attachments.md says why not GridFS's `{files_id, n}`).
 */
export const CHUNK_SIZE = 255 * 1024;

export interface ChunkDoc {
  _id: string;
  data: Binary;
}
export const attachmentChunks = owned<ChunkDoc>({
  name: "attachment_chunks",
  owner: "attachments",
  holds: `${CHUNK_SIZE / 1024} KiB of an attachment's opaque bytes; \`_id\` is \`<attachment id>:<n>\``,
  indexes: [],
  ...never,
  onExpiry: "erased with its attachment (the attachments sweep walks its chunk ids)",
  onAccountDeletion: "erased with its attachment",
  eraseAccount: async () => {},
});

export const chunkId = (attachment: ObjectId, n: number) => `${attachment.toHexString()}:${n}`;
export const chunkCount = (size: number) => Math.ceil(size / CHUNK_SIZE);
/** Bytes chunk `n` of an attachment of `size` bytes holds. */
export const chunkLength = (size: number, n: number) => Math.min(CHUNK_SIZE, size - n * CHUNK_SIZE);

const col = (db: Db) => attachmentChunks.col(db);

/**
 * Stores chunk `n` once: chunks never change after they are written, so whatever reads or hashes
 * them cannot race a rewrite. A repeat (a retried upload) is "same" when its bytes match.
 */
export async function putChunk(db: Db, attachment: ObjectId, n: number, data: Uint8Array) {
  const _id = chunkId(attachment, n);
  try {
    await col(db).insertOne({ _id, data: new Binary(data) });
    return "stored" as const;
  } catch (err) {
    if (!isDuplicateKey(err)) throw err;
  }
  const stored = await getChunk(db, attachment, n);
  return stored && Buffer.compare(stored, data) === 0 ? ("same" as const) : ("differs" as const);
}

export async function getChunk(db: Db, attachment: ObjectId, n: number): Promise<Buffer | null> {
  const doc = await col(db).findOne({ _id: chunkId(attachment, n) });
  return doc ? Buffer.from(doc.data.buffer) : null;
}

const ERASE_BATCH = 64;

/**
 * Erases chunks 0..count-1 (those never written cost nothing), 64 to a command. Each delete names
 * one `_id`, the cheapest lookup on both stores.
 */
export async function eraseChunks(db: Db, attachment: ObjectId, count: number) {
  for (let first = 0; first < count; first += ERASE_BATCH) {
    const ids = Array.from({ length: Math.min(ERASE_BATCH, count - first) }, (_, i) => first + i);
    await col(db).bulkWrite(
      ids.map((n) => ({ deleteOne: { filter: { _id: chunkId(attachment, n) } } })),
      { ordered: false },
    );
  }
}
