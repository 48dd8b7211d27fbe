import { once } from "node:events";
import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Hush, startHush } from "../helpers/hush.js";

// Small timeouts, so that a connection the server fails to cut shows as a test that times out.
let h: Hush;
beforeAll(async () => {
  h = await startHush({
    HEADERS_TIMEOUT_MS: "1000",
    REQUEST_TIMEOUT_MS: "2000",
    KEEP_ALIVE_TIMEOUT_MS: "500",
    IDLE_TIMEOUT_MS: "60000", // out of the way: the drips below keep each socket busy
  });
});
afterAll(() => h?.close());

/** A raw connection that records what it receives and whether the server closed it. */
function open(): { socket: Socket; received: () => string; closed: Promise<unknown> } {
  const socket = connect(Number(new URL(h.url).port), "127.0.0.1");
  let text = "";
  socket.on("data", (c) => {
    text += c;
  });
  socket.on("error", () => {});
  return { socket, received: () => text, closed: once(socket, "close") };
}

/** Writes one byte at a time, every 100 ms, until the socket closes: never idle, never done. */
function drip(socket: Socket, text: string) {
  let i = 0;
  const timer = setInterval(() => {
    if (socket.destroyed || i >= text.length) return clearInterval(timer);
    socket.write(text[i++]!);
  }, 100);
  socket.on("close", () => clearInterval(timer));
}

/** Waits for `p`, failing after `ms` (well past the configured timeout, well inside the test's). */
const within = (p: Promise<unknown>, ms: number, what: string) =>
  Promise.race([
    p,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`${what}: still open after ${ms} ms`)), ms)),
  ]);

describe("slow clients are cut at the configured timeouts", () => {
  it("headers that trickle in are cut at HEADERS_TIMEOUT_MS with a 408", async () => {
    const c = open();
    c.socket.write("GET /healthz HTTP/1.1\r\nHost: hush\r\n");
    drip(c.socket, `X-Slow: ${"a".repeat(200)}\r\n\r\n`);
    await within(c.closed, 8_000, "slow headers");
    expect(c.received()).toMatch(/^HTTP\/1\.1 408 /);
  });

  it("a body that trickles in is cut at REQUEST_TIMEOUT_MS", async () => {
    const c = open();
    const body = JSON.stringify({ email: `${"a".repeat(900)}@example.com` });
    c.socket.write(
      "POST /api/v1/auth/signup HTTP/1.1\r\nHost: hush\r\nContent-Type: application/json\r\n" +
        `Content-Length: ${body.length}\r\n\r\n`,
    );
    const from = h.logs.length;
    drip(c.socket, body);
    await within(c.closed, 10_000, "slow body");
    expect(c.received()).not.toMatch(/^HTTP\/1\.1 200 /);
    // A client's slowness is not the server's error: the cut request leaves one line below error
    // level, without a stack (its access log line, once the handler has given up on the body).
    const lines = async () => {
      for (let i = 0; i < 100 && !h.logs.slice(from).some((l) => l.includes("/api/v1/auth/signup")); i++)
        await new Promise((r) => setTimeout(r, 20));
      return h.logs.slice(from).map((l) => JSON.parse(l));
    };
    const logged = await lines();
    expect(logged.filter((l) => l.level === "error" || l.level === "fatal")).toEqual([]);
    expect(logged.some((l) => JSON.stringify(l).includes("/api/v1/auth/signup"))).toBe(true);
    expect(JSON.stringify(logged)).not.toContain("stack");
  });

  it("an idle keep-alive connection is closed after KEEP_ALIVE_TIMEOUT_MS", async () => {
    const c = open();
    c.socket.write("GET /healthz HTTP/1.1\r\nHost: hush\r\n\r\n");
    await within(c.closed, 3_000, "idle keep-alive connection");
    expect(c.received()).toMatch(/^HTTP\/1\.1 200 /);
  });
});
