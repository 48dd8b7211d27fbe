import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalStore, startLocalStore } from "../../src/local-store.js";
import { SEND_LEASE_MS } from "../../src/messages/client-ids.js";
import { type Device, devicesIn, direct, history, newAccount, type Recipient, wire } from "../helpers/e2e.js";
import { type Hush, startHush } from "../helpers/hush.js";
import { connect } from "../helpers/ws.js";

/**
 * Store trouble (docs/durability.md, "When the store fails"), against a local store of this file's
 * own, so that it can be stopped and killed: requests answer 503 STORE_UNAVAILABLE with Retry-After
 * in bounded time, a socket event gets a retryable error frame, a dead store is started again on
 * its port, and nothing acknowledged is lost.
 */
const STORE_TIMEOUT_MS = 1_500;
// What one request may take while the store does not answer (docs/durability.md): the wait for a
// reachable store (3 s) and STORE_TIMEOUT_MS, then a 1 s ping; with 3 s of room for a loaded machine.
const BOUND_MS = 3_000 + STORE_TIMEOUT_MS + 1_000 + 3_000;

let dir: string;
let store: LocalStore;
let h: Hush;
const storeLog: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "hush-store-failure-"));
  // A dead store is started again only after 8 s here (at once in production): the requests that
  // were waiting when it died and one made while it is dead each wait 2 s for a reachable store
  // (startHush), so they certainly answer 503 first.
  store = await startLocalStore(dir, (m) => storeLog.push(m), { restartDelaysMs: [8_000] });
  h = await startHush({ STORE_TIMEOUT_MS: String(STORE_TIMEOUT_MS) }, { uri: store.uri });
}, 120_000);

afterAll(async () => {
  signal("SIGCONT");
  await h?.close();
  await store?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function signal(name: NodeJS.Signals) {
  try {
    process.kill(store.pid(), name);
  } catch {}
}

interface Sent {
  cmid: string;
  body: Record<string, unknown>;
  status: number;
  ms: number;
  id?: string;
  /** The answer of anything but a success or a 503, for the failure message. */
  answer?: unknown;
}

/** One send with a client_message_id; the body is kept so that a retry sends exactly the same. */
async function sendOnce(d: Device, body: Record<string, unknown>): Promise<Sent> {
  const started = performance.now();
  const res = await h.req("POST", "/api/v1/messages", { token: d.token, body });
  const sent: Sent = {
    cmid: body.client_message_id as string,
    body,
    status: res.status,
    ms: performance.now() - started,
  };
  if (res.status === 201 || res.status === 200) sent.id = res.body.id;
  else if (res.status !== 503) sent.answer = res.body;
  if (res.status === 503) {
    expect(res.body.code).toBe("STORE_UNAVAILABLE");
    expect(res.headers.get("retry-after")).toBe("2");
  }
  return sent;
}

const bodyFor = (conversationId: string, cmid: string, recipients: Recipient[]) => ({
  conversation_id: conversationId,
  client_message_id: cmid,
  ...wire(`message ${cmid}`, recipients),
});

/**
 * Retries every unacknowledged send with its own client_message_id until the server answers it;
 * each one ends acknowledged. A send the failure cut between its steps is recorded and held by a
 * lease its failed try could not give back (the store was gone): the clock moves past it, as a
 * client retrying later would find it, and the retry finishes that send.
 */
async function retryUnacknowledged(d: Device, sent: Sent[]) {
  h.clock.advance(SEND_LEASE_MS / 1000 + 1);
  for (const s of sent.filter((x) => !x.id)) {
    for (let i = 0; i < 20 && !s.id; i++) {
      const again = await sendOnce(d, s.body);
      expect([200, 201, 503]).toContain(again.status);
      if (again.id) s.id = again.id;
      else await new Promise((r) => setTimeout(r, 500));
    }
    expect(s.id, `${s.cmid} acknowledged on retry`).toBeDefined();
  }
}

/** Every acknowledged message is in the conversation's history exactly once. */
async function expectAllAcknowledgedOnce(d: Device, conversationId: string, sent: Sent[]) {
  const page = await history(h, d, conversationId, "?limit=100");
  expect(page.status).toBe(200);
  const ids: string[] = page.body.messages.map((m: { id: string }) => m.id);
  expect(new Set(ids).size).toBe(ids.length);
  for (const s of sent.filter((x) => x.id)) expect(ids).toContain(s.id);
}

async function until(what: string, ok: () => boolean | Promise<boolean>, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("when the store fails", () => {
  it("a stopped store (SIGSTOP) under load: 503s within the bound, a retryable error frame, then recovery with nothing acknowledged lost", async () => {
    const b = await newAccount(h);
    const senders = await Promise.all([1, 2, 3].map(() => newAccount(h)));
    const convs = await Promise.all(senders.map((s) => direct(h, s, b)));
    const recipients = await Promise.all(senders.map((s, i) => devicesIn(h, s, convs[i]!)));
    const { client: bs } = await connect(h, b.token);
    const bToSender0 = await devicesIn(h, b, convs[0]!);

    let phase: "before" | "stopped" | "resumed" = "before";
    const sent: Sent[][] = senders.map(() => []);
    const byPhase = { before: 0, stopped: 0, resumed: 0 };
    const perSender = (i: number, p: typeof phase) => sent[i]!.filter((s) => (s as any).phase === p);
    // Each sender sends one message after another (30 at most: the limit is 100 a minute) until the
    // test has seen what it needs in every phase.
    const loops = senders.map(async (s, i) => {
      for (let n = 0; n < 30; n++) {
        const p = phase;
        const result = await sendOnce(s, bodyFor(convs[i]!, `load-${i}-${n}`, recipients[i]!));
        Object.assign(result, { phase: p });
        sent[i]!.push(result);
        byPhase[p]++;
        if (p === "resumed" && perSender(i, "resumed").filter((x) => x.id).length >= 2) return;
      }
    });

    await until("3 acknowledged sends per sender", () =>
      senders.every((_, i) => perSender(i, "before").filter((x) => x.id).length >= 3),
    );
    signal("SIGSTOP");
    phase = "stopped";
    // A socket event while the store is stopped: an error frame with the retryable code.
    const frame = bs.next("error", BOUND_MS);
    bs.send({ type: "send_message", data: bodyFor(convs[0]!, "socket-1", bToSender0) });
    const error = await frame;
    expect(error.data).toMatchObject({
      code: "STORE_UNAVAILABLE",
      in_reply_to: "send_message",
      client_message_id: "socket-1",
      retry_after: 2,
    });
    await until("two failed sends per sender while stopped", () =>
      senders.every((_, i) => perSender(i, "stopped").filter((x) => x.status === 503).length >= 2),
    );
    signal("SIGCONT");
    phase = "resumed";
    await Promise.all(loops);

    const all = sent.flat();
    // Every answer was a success or 503: no 500, and none waited past the bound.
    // A 500 names what the server logged for it, so that a failure here says why.
    const errors = () => h.logs.filter((l) => /"level":(50|"error")/.test(l)).join("\n");
    for (const s of all)
      expect([200, 201, 503], `${s.cmid}: ${s.status} ${JSON.stringify(s.answer)}\n${errors()}`).toContain(
        s.status,
      );
    expect(
      all.filter((s) => (s as any).phase === "stopped" && s.status === 503).length,
    ).toBeGreaterThanOrEqual(6);
    expect(Math.max(...all.map((s) => s.ms))).toBeLessThan(BOUND_MS);

    for (const [i, s] of senders.entries()) {
      await retryUnacknowledged(s, sent[i]!);
      await expectAllAcknowledgedOnce(s, convs[i]!, sent[i]!);
    }
    // The socket send, retried with its id once the store is back, is stored once.
    const ack = await bs.ask(
      { type: "send_message", data: bodyFor(convs[0]!, "socket-1", bToSender0) },
      "message_ack",
    );
    expect(ack.data.client_message_id).toBe("socket-1");
    await bs.close();
  }, 180_000);

  it("a killed store is started again on its port: in-flight requests get 503, then requests succeed, nothing acknowledged lost", async () => {
    const [a, b] = [await newAccount(h), await newAccount(h)];
    const conv = await direct(h, a, b);
    const recipients = await devicesIn(h, a, conv);
    const sent: Sent[] = [];
    for (let n = 0; n < 5; n++) sent.push(await sendOnce(a, bodyFor(conv, `kill-${n}`, recipients)));
    expect(sent.every((s) => s.status === 201)).toBe(true);

    // Stopped first, so that the sends below are certainly waiting on the store when it dies.
    const before = store.pid();
    signal("SIGSTOP");
    const inFlight = [5, 6, 7].map((n) => sendOnce(a, bodyFor(conv, `kill-${n}`, recipients)));
    await new Promise((r) => setTimeout(r, 300));
    signal("SIGKILL");
    const cut = await Promise.all(inFlight);
    for (const s of cut) expect(s.status).toBe(503);
    sent.push(...cut);
    // While it is dead, new requests answer 503 too.
    const meanwhile = await sendOnce(a, bodyFor(conv, "kill-dead", recipients));
    expect(meanwhile.status).toBe(503);
    sent.push(meanwhile);

    await until(
      "the store started again",
      () => store.pid() !== before && storeLog.some((l) => /started again/.test(l)),
    );
    expect(storeLog.some((l) => l.includes(`(pid ${before}) exited (SIGKILL)`))).toBe(true);
    await until("ready again", async () => (await h.req("GET", "/readyz")).status === 200);
    for (let n = 8; n < 10; n++) {
      const s = await sendOnce(a, bodyFor(conv, `kill-${n}`, recipients));
      expect(s.status).toBe(201);
      sent.push(s);
    }
    await retryUnacknowledged(a, sent);
    expect(sent.filter((s) => s.id).length).toBe(11);
    await expectAllAcknowledgedOnce(a, conv, sent);
  }, 120_000);
});
