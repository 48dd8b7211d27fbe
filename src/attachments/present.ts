import { CHUNK_SIZE, chunkCount, chunkLength } from "./chunks.js";
import type { AttachmentDoc } from "./repo.js";

export const octets = (length: number) => ({
  "Content-Type": "application/octet-stream",
  "Content-Length": String(length),
});

export function attachmentOf(doc: AttachmentDoc) {
  return {
    id: doc._id.toHexString(),
    size: doc.size,
    sha256: doc.sha256!,
    expires_at: doc.expires_at?.toISOString() ?? null,
  };
}

/** The chunks not yet received, as runs of bytes. */
export function missing(doc: AttachmentDoc) {
  if (doc.state === "complete") return [];
  const have = new Set(doc.received);
  const runs: { offset: number; length: number }[] = [];
  for (let n = 0; n < chunkCount(doc.size); n++) {
    if (have.has(n)) continue;
    const last = runs.at(-1);
    if (last && last.offset + last.length === n * CHUNK_SIZE) last.length += chunkLength(doc.size, n);
    else runs.push({ offset: n * CHUNK_SIZE, length: chunkLength(doc.size, n) });
  }
  return runs;
}

export function uploadStatus(doc: AttachmentDoc) {
  const gaps = missing(doc);
  return {
    id: doc._id.toHexString(),
    size: doc.size,
    chunk_size: CHUNK_SIZE,
    received_bytes: doc.size - gaps.reduce((sum, g) => sum + g.length, 0),
    missing: gaps,
    complete: doc.state === "complete",
    upload_url: `/api/v1/attachments/uploads/${doc._id.toHexString()}`,
    expires_at: doc.expires_at?.toISOString() ?? null,
  };
}
