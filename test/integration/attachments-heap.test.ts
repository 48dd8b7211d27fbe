import { type ChildProcess, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { pseudoRandom } from "../helpers/attachments.js";
import { conformanceChecker } from "../helpers/conformance.js";

const MiB = 1024 * 1024;
const HEAP_MB = 64;
const SIZE = 150 * MiB;

interface Peaks {
  rss: number;
  heapUsed: number;
  offHeap: number;
}

let child: ChildProcess;
let base: string;
let token: string;
const check = conformanceChecker();
const next = () => new Promise<any>((resolve) => child.once("message", resolve));
const peaks = async (m: "reset" | "peaks") => {
  const answer = next();
  child.send(m);
  return (await answer).peaks as Peaks;
};

beforeAll(async () => {
  child = spawn(
    process.execPath,
    [`--max-old-space-size=${HEAP_MB}`, "--expose-gc", "--import", "tsx", "test/helpers/heap-server.ts"],
    {
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      env: {
        ...process.env,
        HUSH_TEST_URI: inject("mongoUri"),
        HUSH_TEST_DB: `hush_test_${randomBytes(6).toString("hex")}`,
      },
    },
  );
  const ready = await Promise.race([
    next(),
    new Promise<never>((_, reject) => child.once("exit", (c) => reject(new Error(`server exited ${c}`)))),
  ]);
  base = `http://127.0.0.1:${ready.port}/api/v1`;
  token = ready.token;
}, 120_000);
afterAll(async () => {
  if (child?.connected) {
    const exited = new Promise((r) => child.once("exit", r));
    child.send("stop");
    await exited;
  }
});

describe(`attachments: a ${SIZE / MiB} MiB file through a server whose heap is ${HEAP_MB} MB`, () => {
  it("streams it in and out with the server's memory flat, digest intact", async () => {
    const before = await peaks("reset");

    // Upload: made piece by piece and hashed as it goes, so this process never holds it either.
    const sent = createHash("sha256");
    const pieces = pseudoRandom(SIZE, "heap", 256 * 1024);
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        const { done, value } = pieces.next();
        if (done) return controller.close();
        sent.update(value);
        controller.enqueue(value);
      },
    });
    const up = await fetch(`${base}/attachments`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/octet-stream" },
      body,
      duplex: "half",
    } as RequestInit);
    const created = await up.json();
    check({
      method: "POST",
      url: `${base}/attachments`,
      status: up.status,
      headers: up.headers,
      body: created,
    });
    expect(up.status, JSON.stringify(created)).toBe(201);
    const digest = sent.digest("hex");
    expect(created).toMatchObject({ size: SIZE, sha256: digest });
    const afterUpload = await peaks("peaks");

    // Download: read and hashed piece by piece.
    const down = await fetch(`${base}/attachments/${created.id}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    check({
      method: "GET",
      url: `${base}/attachments/${created.id}`,
      status: down.status,
      headers: down.headers,
      body: null,
    });
    expect(down.status).toBe(200);
    expect(down.headers.get("content-length")).toBe(String(SIZE));
    const received = createHash("sha256");
    let bytes = 0;
    const reader = down.body!.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      bytes += value.length;
      received.update(value);
    }
    expect(bytes).toBe(SIZE);
    expect(received.digest("hex")).toBe(digest);
    const after = await peaks("peaks");

    const mb = (n: number) => Math.round(n / MiB);
    console.log(
      `server memory, MiB: at rest rss ${mb(before.rss)} heap ${mb(before.heapUsed)} off-heap ${mb(before.offHeap)}; ` +
        `peak while uploading rss ${mb(afterUpload.rss)} heap ${mb(afterUpload.heapUsed)} off-heap ${mb(afterUpload.offHeap)}; ` +
        `peak overall rss ${mb(after.rss)} heap ${mb(after.heapUsed)} off-heap ${mb(after.offHeap)}`,
    );
    // The heap cannot pass its limit without the server dying. Buffers live off the heap, so those
    // are bounded here: a server holding the file would grow by all of it, this one by a fraction
    // (what the garbage collector has not yet reclaimed), and so does the whole process.
    expect(after.heapUsed).toBeLessThan(HEAP_MB * MiB);
    expect(after.offHeap - before.offHeap).toBeLessThan(SIZE / 2);
    expect(after.rss - before.rss).toBeLessThan(SIZE / 2);
  }, 300_000);
});
