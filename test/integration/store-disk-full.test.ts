import { execFileSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type LocalStore, startLocalStore } from "../../src/local-store.js";
import { type Device, devicesIn, direct, history, newAccount, type Recipient, wire } from "../helpers/e2e.js";
import { type Hush, startHush } from "../helpers/hush.js";

/**
 * A store that cannot write (docs/durability.md, "When the store fails"): its data folder on a
 * small tmpfs (CI runs as root), filled up. Sends answer 503 STORE_UNAVAILABLE, never 500, and
 * `/readyz` says unavailable; with room again, both recover and nothing acknowledged is lost.
 * Where mounting is not allowed, the store's file size is capped with prlimit instead (writes
 * past it fail as they do on a full disk).
 */
let dir: string;
let mounted = false;
let store: LocalStore;
let h: Hush;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "hush-disk-full-"));
  try {
    // HUSH_TEST_NO_TMPFS=1 tries the fallback where mounting works.
    if (process.env.HUSH_TEST_NO_TMPFS) throw new Error("HUSH_TEST_NO_TMPFS is set");
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=48m", "tmpfs", dir], { stdio: "pipe" });
    mounted = true;
  } catch (err) {
    console.log(`no tmpfs (${(err as Error).message.split("\n")[0]}): capping the store's file size instead`);
  }
  store = await startLocalStore(dir);
  h = await startHush({ STORE_TIMEOUT_MS: "5000" }, { uri: store.uri });
}, 120_000);

afterAll(async () => {
  await h?.close();
  await store?.stop();
  if (mounted) execFileSync("umount", ["-l", dir]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const filler = () => join(dir, "filler");

/** Takes every byte left on the tmpfs (or caps the store's writes where the size is now). */
function fillDisk() {
  if (!mounted) {
    execFileSync("prlimit", [`--pid=${store.pid()}`, "--fsize=1:unlimited"]);
    return;
  }
  const fd = openSync(filler(), "w");
  try {
    for (const size of [1 << 20, 64 << 10, 4 << 10, 512]) {
      const chunk = Buffer.alloc(size);
      try {
        for (;;) writeSync(fd, chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOSPC") throw err;
      }
    }
  } finally {
    closeSync(fd);
  }
}

function freeDisk() {
  if (!mounted) execFileSync("prlimit", [`--pid=${store.pid()}`, "--fsize=unlimited:unlimited"]);
  else rmSync(filler());
}

interface Sent {
  body: Record<string, unknown>;
  status: number;
  id?: string;
}

async function sendAs(d: Device, body: Record<string, unknown>): Promise<Sent> {
  const res = await h.req("POST", "/api/v1/messages", { token: d.token, body });
  if (res.status === 503) {
    expect(res.body.code).toBe("STORE_UNAVAILABLE");
    expect(res.headers.get("retry-after")).toBe("2");
  }
  return { body, status: res.status, ...(res.body?.id ? { id: res.body.id } : {}) };
}

async function until(what: string, ok: () => Promise<boolean>, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

it("on a full disk sends answer 503 (never 500) and /readyz says unavailable; with room again both recover, nothing acknowledged lost", async () => {
  const b = await newAccount(h);
  // Several senders: the send limit is 100 a minute each, and a full disk may take a few hundred sends.
  const senders = await Promise.all([1, 2, 3, 4, 5].map(() => newAccount(h)));
  const convs = await Promise.all(senders.map((s) => direct(h, s, b)));
  const recipients: Recipient[][] = await Promise.all(senders.map((s, i) => devicesIn(h, s, convs[i]!)));
  const sent: Sent[][] = senders.map(() => []);
  let n = 0;
  const sendNext = async (i: number) => {
    const body = {
      conversation_id: convs[i]!,
      client_message_id: `disk-${n}`,
      ...wire(`m${n}`, recipients[i]!),
    };
    n++;
    const s = await sendAs(senders[i]!, body);
    sent[i]!.push(s);
    return s;
  };
  for (const i of senders.keys()) expect((await sendNext(i)).status).toBe(201);
  expect((await h.req("GET", "/readyz")).status).toBe(200);

  fillDisk();
  let refused: Sent | undefined;
  for (let k = 0; k < 450 && !refused; k++) {
    const s = await sendNext(k % senders.length);
    expect([201, 503], `send ${k} on a full disk`).toContain(s.status);
    if (s.status === 503) refused = s;
  }
  expect(refused, "no send was refused on a full disk").toBeDefined();
  const ready = await h.req("GET", "/readyz");
  expect(ready).toMatchObject({ status: 503, body: { status: "unavailable", database: "down" } });

  freeDisk();
  // Readiness stays down for 30 s after a write failed for want of space (writes on a full disk
  // fail on and off), then its probe decides. The 31 s also take every send the full disk cut
  // between its steps past its lease (its failed try could not give it back): the retries finish them.
  h.clock.advance(31);
  await until("ready again", async () => (await h.req("GET", "/readyz")).status === 200);
  for (const [i, s] of senders.entries()) {
    for (const x of sent[i]!.filter((x) => !x.id)) {
      const again = await sendAs(s, x.body);
      expect([200, 201]).toContain(again.status);
      x.id = again.id;
    }
    const page = await history(h, s, convs[i]!, "?limit=100");
    const ids: string[] = page.body.messages.map((m: { id: string }) => m.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const x of sent[i]!.filter((x) => x.id)) expect(ids).toContain(x.id);
  }
  expect((await sendNext(0)).status).toBe(201);
}, 180_000);
