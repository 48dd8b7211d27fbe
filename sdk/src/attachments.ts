import { b64, unb64 } from "./bytes.js";
import { randomKey, seal, sha256Hex, unseal } from "./crypto.js";
import { type Api, type Fetch, HushError, ok } from "./http.js";

/** What a message carries about a file: all of it inside the encrypted content, none seen by the server. */
export interface AttachmentRef {
  id: string;
  /** base64 of the file's own key */
  key: string;
  /** SHA-256 of the ciphertext as uploaded, lowercase hex */
  sha256: string;
  size: number;
  name: string;
  type: string;
}

/**
 * Encrypts a file under a fresh key and uploads the ciphertext as a resumable upload: every part
 * that arrived is kept, so a failed part is sent again from what the server says is missing.
 */
export async function uploadAttachment(
  api: Api,
  bytes: Uint8Array,
  meta: { name: string; type: string },
  partRetries = 3,
): Promise<AttachmentRef> {
  const key = randomKey();
  const ciphertext = seal(key, bytes);
  const sha256 = sha256Hex(ciphertext);
  let status = ok(
    "create upload",
    await api.POST("/api/v1/attachments/uploads", { body: { size: ciphertext.length } }),
  );
  const id = status.id;
  for (let round = 0; status.missing.length > 0; round++) {
    if (round > partRetries)
      throw new Error(`upload ${id}: parts still missing after ${partRetries} retries`);
    for (const span of status.missing) {
      // Whole chunks at a time, so a failed request costs at most the part in flight.
      const perPart = status.chunk_size * 8;
      for (let offset = span.offset; offset < span.offset + span.length; offset += perPart) {
        const end = Math.min(offset + perPart, span.offset + span.length);
        const res = await api.PUT("/api/v1/attachments/uploads/{upload_id}", {
          params: { path: { upload_id: id }, query: { offset } },
          body: ciphertext.subarray(offset, end) as unknown as string,
          bodySerializer: (b: unknown) => b as BodyInit,
          headers: { "content-type": "application/octet-stream" },
        });
        if (res.data) status = res.data;
      }
    }
    if (status.missing.length > 0)
      status = ok(
        "upload status",
        await api.GET("/api/v1/attachments/uploads/{upload_id}", { params: { path: { upload_id: id } } }),
      );
  }
  const done = ok(
    "complete upload",
    await api.POST("/api/v1/attachments/uploads/{upload_id}/complete", {
      params: { path: { upload_id: id } },
    }),
  );
  if (done.sha256 !== sha256) throw new Error(`upload ${id}: the server stored different bytes`);
  return { id, key: b64(key), sha256, size: bytes.length, name: meta.name, type: meta.type };
}

/**
 * Downloads, checks and decrypts an attachment. A body cut off half way is resumed with a range
 * from the bytes already received (If-Range: the digest, so a changed file starts over).
 */
export async function downloadAttachment(
  fetch: Fetch,
  baseUrl: string,
  ref: AttachmentRef,
  o: { attempts?: number; onChunk?: (received: number) => void } = {},
): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let received = 0;
  let total: number | null = null;
  let lastError: unknown = null;
  for (let attempt = 0; attempt < (o.attempts ?? 5); attempt++) {
    const headers: Record<string, string> = {};
    if (received > 0) {
      headers.range = `bytes=${received}-`;
      headers["if-range"] = `"${ref.sha256}"`;
    }
    const res = await fetch(new Request(`${baseUrl}/api/v1/attachments/${ref.id}`, { headers }));
    if (!res.ok) throw new HushError(res.status, await res.json().catch(() => null), "download attachment");
    if (received > 0 && res.status === 200) {
      // The range was not honoured: start over.
      parts.length = 0;
      received = 0;
    }
    total ??= Number(res.headers.get("content-length")) + received;
    try {
      const reader = res.body!.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        parts.push(value);
        received += value.length;
        o.onChunk?.(received);
      }
      if (received >= total) break;
    } catch (e) {
      lastError = e;
    }
  }
  if (total === null || received < total) throw new Error(`download ${ref.id} failed: ${String(lastError)}`);
  const ciphertext = new Uint8Array(received);
  let at = 0;
  for (const p of parts) {
    ciphertext.set(p, at);
    at += p.length;
  }
  if (sha256Hex(ciphertext) !== ref.sha256) throw new Error(`download ${ref.id}: digest mismatch`);
  return unseal(unb64(ref.key), ciphertext);
}
