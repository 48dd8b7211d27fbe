import { createCipheriv, createHash } from "node:crypto";
import type { Checker } from "./conformance.js";
import type { Hush } from "./hush.js";

/**
 * Deterministic pseudo-random bytes (an AES-CTR keystream of the seed), made piece by piece so a
 * test can send or compare a file far larger than it would want to hold.
 */
export function* pseudoRandom(size: number, seed = "seed", piece = 64 * 1024): Generator<Buffer> {
  const key = createHash("sha256").update(seed).digest().subarray(0, 16);
  const cipher = createCipheriv("aes-128-ctr", key, Buffer.alloc(16));
  const zeros = Buffer.alloc(piece);
  for (let sent = 0; sent < size; sent += piece) {
    yield cipher.update(zeros.subarray(0, Math.min(piece, size - sent)));
  }
}

export const bytesOf = (size: number, seed?: string) => Buffer.concat([...pseudoRandom(size, seed)]);
export const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");
export function sha256Of(size: number, seed?: string) {
  const hash = createHash("sha256");
  for (const piece of pseudoRandom(size, seed)) hash.update(piece);
  return hash.digest("hex");
}

/** A request body streamed from a generator of pieces (fetch sends it chunked, without Content-Length). */
export function streamOf(pieces: Iterable<Uint8Array>): ReadableStream<Uint8Array> {
  const it = pieces[Symbol.iterator]();
  return new ReadableStream({
    pull(controller) {
      const { done, value } = it.next();
      if (done) controller.close();
      else controller.enqueue(value);
    },
  });
}

export interface BinaryRes {
  status: number;
  headers: Headers;
  /** Parsed JSON for JSON answers, else the bytes. */
  body: any;
  bytes: Buffer;
}

/**
 * `fetch` for binary bodies, in either direction: the answer goes through the same conformance
 * check as `h.req` (media type and headers for bytes, the schema for JSON).
 */
export async function binaryFetch(
  check: Checker,
  url: string,
  init: { method?: string; token?: string; headers?: Record<string, string>; body?: BodyInit } = {},
): Promise<BinaryRes> {
  const method = init.method ?? "GET";
  const headers: Record<string, string> = { ...init.headers };
  if (init.token) headers.authorization = `Bearer ${init.token}`;
  const res = await fetch(url, {
    method,
    headers,
    body: init.body,
    ...(init.body instanceof ReadableStream ? { duplex: "half" } : {}),
  } as RequestInit);
  const bytes = Buffer.from(await res.arrayBuffer());
  const isJson = /^application\/json\b/.test(res.headers.get("content-type") ?? "");
  const body = isJson ? JSON.parse(bytes.toString("utf8")) : bytes.length ? bytes : null;
  check({ method, url, status: res.status, headers: res.headers, body });
  return { status: res.status, headers: res.headers, body, bytes };
}

/** A multipart/form-data body with the file as its `file` part (and any text fields before it). */
export function formOf(file: Uint8Array<ArrayBuffer>, fields: Record<string, string> = {}) {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  form.append("file", new Blob([file]), "blob.bin");
  return form;
}

/** How many answers to this route pattern the server has logged (however the requests ended). */
export const answeredCount = (h: Hush, route: string) =>
  h.logs.filter((l) => l.includes('"msg":"request"') && l.includes(`"route":"${route}"`)).length;

/**
 * Waits until the server has logged its answer to `n` requests of this route: a request whose
 * client went away has no answer to wait for, yet the test must know the server is done with it.
 */
export async function answered(h: Hush, route: string, n: number) {
  for (let i = 0; i < 1000; i++) {
    if (answeredCount(h, route) >= n) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`no answer logged for ${route}`);
}
