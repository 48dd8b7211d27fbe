import type { Db } from "mongodb";
import { randomHex } from "../lib/random.js";
import { CHUNK_SIZE, getChunk } from "./chunks.js";
import type { ByteRange } from "./ranges.js";
import type { AttachmentDoc } from "./repo.js";

type Stored = Pick<AttachmentDoc, "_id" | "size">;

/**
 * The bytes of one range, chunk by chunk: each chunk is looked up by its computed `_id`, so a range
 * costs the chunks it touches and nothing else. The next chunk is fetched while the client takes
 * this one, and no further ahead.
 */
async function* rangeBytes(db: Db, doc: Stored, { start, end }: ByteRange) {
  const last = Math.floor(end / CHUNK_SIZE);
  const fetch = (n: number) => (n <= last ? getChunk(db, doc._id, n) : null);
  let n = Math.floor(start / CHUNK_SIZE);
  let next = fetch(n);
  try {
    for (; n <= last; n++) {
      const chunk = await next;
      next = fetch(n + 1);
      if (!chunk) throw new Error(`attachment ${doc._id} lost chunk ${n} while being read`);
      const base = n * CHUNK_SIZE;
      yield chunk.subarray(Math.max(0, start - base), Math.min(chunk.length, end + 1 - base));
    }
  } finally {
    await next?.catch(() => {}); // a client gone early leaves no read unsettled
  }
}

/** A pull stream over an async iterator: nothing is read ahead of the client by more than one piece. */
function pullStream(source: AsyncGenerator<Uint8Array>): ReadableStream<Uint8Array> {
  return new ReadableStream({
    async pull(controller) {
      const { done, value } = await source.next();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    async cancel() {
      await source.return(undefined);
    },
  });
}

export function body(db: Db, doc: Stored, range: ByteRange) {
  return { stream: pullStream(rangeBytes(db, doc, range)), length: range.end - range.start + 1 };
}

/** Several ranges as one `multipart/byteranges` body (RFC 9110, 14.6), its length known ahead. */
export function multipartBody(db: Db, doc: Stored, ranges: ByteRange[]) {
  const boundary = `hush-${randomHex(12)}`;
  const head = (r: ByteRange, i: number) =>
    Buffer.from(
      `${i ? "\r\n" : ""}--${boundary}\r\nContent-Type: application/octet-stream\r\n` +
        `Content-Range: bytes ${r.start}-${r.end}/${doc.size}\r\n\r\n`,
    );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const length = ranges.reduce((sum, r, i) => sum + head(r, i).length + r.end - r.start + 1, tail.length);
  async function* parts() {
    for (const [i, r] of ranges.entries()) {
      yield head(r, i);
      yield* rangeBytes(db, doc, r);
    }
    yield tail;
  }
  return { stream: pullStream(parts()), length, type: `multipart/byteranges; boundary=${boundary}` };
}
