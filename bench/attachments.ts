import { createHash } from "node:crypto";
import { pseudoRandom } from "../test/helpers/attachments.js";

/**
 * Attachment throughput: upload and download MB/s for one 50 MiB blob, and the latency of small
 * range reads inside it, first with 1 other blob stored and then with 50. Reading a range looks
 * chunks up by `_id` only, so the figures should not move with what else is stored.
 */
const MiB = 1024 * 1024;
const SIZE = Number(process.env.BENCH_BLOB_MIB ?? 50) * MiB;
const OTHER = Number(process.env.BENCH_OTHER_MIB ?? 5) * MiB;

export async function benchAttachments(base: string, token: string) {
  const auth = { authorization: `Bearer ${token}` };
  const upload = async (size: number, seed: string) => {
    const pieces = pseudoRandom(size, seed, 256 * 1024);
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        const { done, value } = pieces.next();
        if (done) c.close();
        else c.enqueue(value);
      },
    });
    const res = await fetch(`${base}/api/v1/attachments`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/octet-stream", "content-length": String(size) },
      body,
      duplex: "half",
    } as RequestInit);
    const json = (await res.json()) as { id: string };
    if (res.status !== 201) throw new Error(`upload ${res.status} ${JSON.stringify(json)}`);
    return json.id;
  };
  const download = async (id: string, range?: string) => {
    const res = await fetch(`${base}/api/v1/attachments/${id}`, {
      headers: range ? { ...auth, range } : auth,
    });
    const hash = createHash("sha256");
    let n = 0;
    for await (const piece of res.body as unknown as AsyncIterable<Uint8Array>) {
      n += piece.length;
      hash.update(piece);
    }
    return n;
  };
  const mbps = (bytes: number, ms: number) => `${(bytes / MiB / (ms / 1000)).toFixed(1)} MB/s`;

  let stored = 0;
  for (const others of [1, 50]) {
    while (stored < others) await upload(OTHER, `other${stored++}`);
    let t = performance.now();
    const id = await upload(SIZE, `blob${others}`);
    const up = performance.now() - t;
    t = performance.now();
    const got = await download(id);
    const down = performance.now() - t;
    if (got !== SIZE) throw new Error(`downloaded ${got} of ${SIZE} bytes`);
    const ms: number[] = [];
    for (let i = 0; i < 100; i++) {
      const start = Math.floor((((i * 7919) % 1000) / 1000) * (SIZE - 65536));
      const r0 = performance.now();
      await download(id, `bytes=${start}-${start + 65535}`);
      ms.push(performance.now() - r0);
    }
    ms.sort((a, b) => a - b);
    console.log(
      `${SIZE / MiB} MiB blob, ${String(others).padStart(2)} other blob(s) of ${OTHER / MiB} MiB stored: ` +
        `upload ${mbps(SIZE, up)}, download ${mbps(SIZE, down)}, ` +
        `64 KiB range p50=${ms[50]!.toFixed(2)}ms p95=${ms[95]!.toFixed(2)}ms`,
    );
    await fetch(`${base}/api/v1/attachments/${id}`, { method: "DELETE", headers: auth });
  }
}
