import { ObjectId } from "mongodb";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { WebSocket } from "ws";
import type { EntryInput } from "../../src/delivery/change.js";
import type { Deps } from "../../src/deps.js";
import { type Hush, signUp, startHush } from "../helpers/hush.js";
import { connect, refused, wsUrl } from "../helpers/ws.js";

/** Entries straight into the streams, past the door (deliver.ts): the writer alone. */
const append = (deps: Deps, inputs: readonly EntryInput[]) => deps.writer.append(inputs);

// Small limits so that each guard is reached quickly: frames of 2 KiB, 5 frames a minute, a
// 16 KiB send buffer, 3 sockets a user.
let h: Hush;
beforeAll(async () => {
  h = await startHush({
    MAX_BODY_BYTES: "2048",
    WS_MESSAGES_PER_MINUTE: "5",
    WS_MAX_BUFFERED_BYTES: "16384",
    WS_MAX_SOCKETS_PER_USER: "3",
  });
});
afterAll(() => h?.close());

const metric = async (line: RegExp) => {
  const text = (await h.req("GET", "/metrics")).body as string;
  return Number(
    text
      .split("\n")
      .find((l) => line.test(l))
      ?.split(" ")
      .at(-1) ?? 0,
  );
};

describe("malformed frames", () => {
  it("each gets an error naming the problem, and the connection stays up", async () => {
    const a = await signUp(h);
    const { client } = await connect(h, a.token);
    const cases: [string | Buffer, boolean, Record<string, unknown>][] = [
      ["{not json", false, { code: "INVALID_JSON" }],
      ["[1,2]", false, { code: "VALIDATION_ERROR", fields: { type: "required" } }],
      [
        JSON.stringify({ type: "shout", data: {} }),
        false,
        { code: "VALIDATION_ERROR", fields: { type: expect.stringContaining("typing_start") } },
      ],
      [
        JSON.stringify({ type: "ack", data: { up_to: "lots" } }),
        false,
        { code: "VALIDATION_ERROR", fields: { up_to: expect.any(String) }, in_reply_to: "ack" },
      ],
      [
        JSON.stringify({ type: "typing_start", data: { conversation_id: "nope" } }),
        false,
        {
          code: "VALIDATION_ERROR",
          fields: { conversation_id: expect.any(String) },
          in_reply_to: "typing_start",
        },
      ],
      [Buffer.from([1, 2, 3]), true, { code: "VALIDATION_ERROR" }],
      [JSON.stringify({ type: "ping", pad: "x".repeat(3000) }), false, { code: "PAYLOAD_TOO_LARGE" }],
    ];
    for (const [frame, binary, expected] of cases) {
      h.clock.advance(60); // a fresh frame budget for each
      const error = client.next("error");
      client.sendRaw(frame, binary);
      expect((await error).data).toMatchObject({ message: expect.any(String), ...expected });
    }
    h.clock.advance(60);
    expect((await client.ask({ type: "ping" }, "pong")).type).toBe("pong");
    await client.close();
  });

  it("a frame nested deeper than a REST body may be is refused unparsed, and the socket stays up", async () => {
    const a = await signUp(h);
    const { client } = await connect(h, a.token);
    h.clock.advance(60);
    const parse = JSON.parse;
    const seen: number[] = [];
    const spy = vi.spyOn(JSON, "parse").mockImplementation((text, reviver) => {
      seen.push(String(text).length);
      return parse(text, reviver);
    });
    const bomb = `{"type":"ping","pad":${"[".repeat(1000)}${"]".repeat(1000)}}`;
    try {
      const error = client.next("error");
      client.sendRaw(bomb);
      expect((await error).data).toMatchObject({
        code: "VALIDATION_ERROR",
        fields: { frame: expect.stringContaining("16") },
      });
      expect(seen.filter((n) => n >= bomb.length)).toEqual([]);
    } finally {
      spy.mockRestore();
    }
    expect((await client.ask({ type: "ping" }, "pong")).type).toBe("pong");
    await client.close();
  });

  it("a frame past four times the body limit is not read: the socket closes with 1009", async () => {
    const a = await signUp(h);
    const { client } = await connect(h, a.token);
    client.sendRaw(JSON.stringify({ type: "ping", pad: "x".repeat(4 * 2048 + 10) }));
    expect((await client.closed).code).toBe(1009);
  });
});

describe("throttling", () => {
  it("past the frame budget each frame gets RATE_LIMITED; a client that keeps on is closed with 4008", async () => {
    const a = await signUp(h);
    const first = await connect(h, a.token);
    const second = await connect(h, a.token); // same user, same budget
    for (let i = 0; i < 5; i++) await (i % 2 ? second : first).client.ask({ type: "ping" }, "pong");
    const limited = await first.client.ask({ type: "ping" }, "error");
    expect(limited.data).toMatchObject({ code: "RATE_LIMITED" });
    expect((await second.client.ask({ type: "ping" }, "error")).data.code).toBe("RATE_LIMITED");
    // A minute later the budget is back.
    h.clock.advance(60);
    expect((await first.client.ask({ type: "ping" }, "pong")).type).toBe("pong");
    for (let i = 0; i < 4; i++) await first.client.ask({ type: "ping" }, "pong");
    for (let i = 0; i < 25; i++) first.client.send({ type: "ping" });
    expect(await first.client.closed).toEqual({
      code: 4008,
      reason: "too many frames, kept on past the limit",
    });
    await second.client.close();
  });
});

describe("large frames", () => {
  it("weigh on the frame budget by their size, so the budget bounds the bytes parsed a minute", async () => {
    const big = await startHush({ WS_MESSAGES_PER_MINUTE: "25" });
    try {
      const a = await signUp(big);
      const { client } = await connect(big, a.token);
      // 600 KB is 10 units: two of them and 5 pings fit in 25, the next ping does not.
      const heavy = JSON.stringify({ type: "ping", pad: "x".repeat(600_000) });
      for (let i = 0; i < 2; i++) expect((await client.ask(JSON.parse(heavy), "pong")).type).toBe("pong");
      for (let i = 0; i < 5; i++) await client.ask({ type: "ping" }, "pong");
      expect((await client.ask({ type: "ping" }, "error")).data.code).toBe("RATE_LIMITED");
      await client.close();
    } finally {
      await big.close();
    }
  });
});

describe("socket count", () => {
  it("a user past WS_MAX_SOCKETS_PER_USER open sockets on a process is refused with 429", async () => {
    const a = await signUp(h);
    const open = [await connect(h, a.token), await connect(h, a.token), await connect(h, a.token)];
    const fourth = await refused(`${wsUrl(h)}?token=${a.token}`);
    expect(fourth).toEqual({ status: 429, body: expect.objectContaining({ code: "RATE_LIMITED" }) });
    await open[0]!.client.close();
    const again = await connect(h, a.token);
    for (const s of [...open.slice(1), again]) await s.client.close();
  });
});

describe("access token expiry", () => {
  it("a socket whose token expired is closed with 4004 at its next frame, which is not handled", async () => {
    const a = await signUp(h);
    const { client } = await connect(h, a.token);
    h.clock.advance(60);
    expect((await client.ask({ type: "sync", data: { since: 0 } }, "sync_result")).type).toBe("sync_result");
    h.clock.advance(h.deps.config.ACCESS_TOKEN_TTL); // past the token's expiry (REST now answers 401)
    expect((await h.req("GET", "/api/v1/users/me", { token: a.token })).status).toBe(401);
    client.send({ type: "sync", data: { since: 0 } });
    expect(await client.closed).toEqual({
      code: 4004,
      reason: "access token expired; refresh and reconnect",
    });
    expect(client.seen("sync_result")).toEqual([]);
  });

  it("an idle socket is closed with 4004 by the heartbeat once its token expired", async () => {
    const own = await startHush({ WS_HEARTBEAT_MS: "200" });
    try {
      const a = await signUp(own);
      const { client } = await connect(own, a.token);
      own.clock.advance(own.deps.config.ACCESS_TOKEN_TTL + 1);
      expect((await client.closed).code).toBe(4004);
    } finally {
      await own.close();
    }
  });
});

describe("dead and slow clients", () => {
  it("a client that stops answering pings is cut; one that answers stays", async () => {
    const own = await startHush({ WS_HEARTBEAT_MS: "300" });
    try {
      const a = await signUp(own);
      const silent = await connect(own, a.token, { options: { autoPong: false } });
      const alive = await connect(own, a.token);
      expect((await silent.client.closed).code).toBe(1006);
      expect((await alive.client.ask({ type: "ping" }, "pong")).type).toBe("pong");
      expect(alive.client.ws.readyState).toBe(WebSocket.OPEN);
      await alive.client.close();
    } finally {
      await own.close();
    }
  });

  it("a socket whose unsent data passes the bound is closed with 4009, not buffered further", async () => {
    const a = await signUp(h);
    const { client } = await connect(h, a.token);
    const before = await metric(/^ws_closes_total\{reason="SLOW_CONSUMER"\}/);
    // The client stops reading; the server keeps getting entries for it.
    (client.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const big = (n: number): EntryInput => ({
      user_id: new ObjectId(a.id),
      device_id: a.deviceId,
      type: "contacts_updated",
      data: { user_id: a.id, status: "accepted", display_name: `${n}`.padEnd(60_000, ".") },
      refs: [],
    });
    for (let round = 0; round < 40; round++) {
      await append(
        h.deps,
        Array.from({ length: 20 }, (_, i) => big(round * 20 + i)),
      );
      if ((await metric(/^ws_closes_total\{reason="SLOW_CONSUMER"\}/)) > before) break;
    }
    expect(await metric(/^ws_closes_total\{reason="SLOW_CONSUMER"\}/)).toBe(before + 1);
    (client.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    expect((await client.closed).code).toBe(4009);
    // Whatever it missed is still there to sync.
    const again = await connect(h, a.token);
    const page = await again.client.ask({ type: "sync", data: { since: 0, limit: 5 } }, "sync_result");
    expect(page.data.entries[0]?.position).toBe(1);
    await again.client.close();
  });
});

describe("HTTP timeouts", () => {
  it("do not reach a socket once it is a WebSocket: an idle one outlives IDLE_TIMEOUT_MS", async () => {
    const own = await startHush({ IDLE_TIMEOUT_MS: "500" });
    try {
      const a = await signUp(own);
      const { client } = await connect(own, a.token);
      await new Promise((r) => setTimeout(r, 1_500));
      expect(client.ws.readyState).toBe(WebSocket.OPEN);
      expect((await client.ask({ type: "ping" }, "pong")).type).toBe("pong");
      await client.close();
    } finally {
      await own.close();
    }
  });
});

describe("shutdown", () => {
  it("closes every socket with 1001 and refuses new ones", async () => {
    const own = await startHush();
    const a = await signUp(own);
    const { client } = await connect(own, a.token);
    const closing = own.close();
    expect(await client.closed).toEqual({ code: 1001, reason: "server shutting down; reconnect" });
    await closing;
    await expect(
      new Promise((res, rej) => new WebSocket(wsUrl(own)).once("open", res).once("error", rej)),
    ).rejects.toThrow();
  });
});
