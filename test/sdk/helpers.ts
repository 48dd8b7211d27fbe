import { type ClientStore, type Events, HushClient, MemoryStore, type SocketFactory } from "@hush/sdk";
import { WebSocket } from "ws";
import { ServerEvent } from "../../src/realtime/protocol.js";
import { readBody } from "../helpers/conformance.js";
import { freshIp, type Hush, signUp, uniqueEmail, uniqueUsername } from "../helpers/hush.js";

/**
 * Every answer an SDK client gets goes through the same conformance check as `h.req`'s; each
 * request from its own client address, so the per-IP sign-up and login budgets stay out of the way.
 */
export function checkedFetch(h: Hush) {
  return async (request: Request): Promise<Response> => {
    request.headers.set("x-forwarded-for", freshIp());
    const res = await fetch(request);
    // Attachment bytes are checked by the SDK's own digest; reading them here would consume the stream.
    if (!(res.headers.get("content-type") ?? "").includes("application/json")) return res;
    const body = await readBody(res.clone());
    h.check({ method: request.method, url: request.url, status: res.status, headers: res.headers, body });
    return res;
  };
}

/** Frames that break the declared protocol (the zod union the server's own tests check against). */
export const frameViolations: string[] = [];

/** A `ws` socket whose every received frame is checked against the server's protocol schema. */
export const checkedSocket: SocketFactory = (url, protocols) => {
  const ws = new WebSocket(url, protocols);
  ws.on("message", (data) => {
    const frame = JSON.parse(data.toString());
    const parsed = ServerEvent.safeParse(frame);
    if (!parsed.success) frameViolations.push(`${data}: ${parsed.error.message}`);
  });
  return ws as never;
};

export const options = (h: Hush, store: ClientStore = new MemoryStore()) => ({
  baseUrl: h.url,
  store,
  fetch: checkedFetch(h),
  socket: checkedSocket,
});

/** A new account through the SDK's own sign-up; the code comes from the test's SMTP server. */
export async function account(h: Hush, o: { deviceId?: string; store?: ClientStore; tag?: string } = {}) {
  return HushClient.signUp({
    ...options(h, o.store),
    email: uniqueEmail(o.tag ?? "sdk"),
    username: uniqueUsername(o.tag ?? "sdk"),
    fullName: "SDK User",
    deviceId: o.deviceId ?? "phone",
    code: (email) => h.smtp.code(email),
  });
}

/**
 * Another device of an account, through the SDK's login. On a signed account it comes back
 * pending, and `of` (the device holding the account key) approves it with the fingerprint the new
 * device shows, as its owner would type it; `approve: false` leaves it pending.
 */
export async function device(
  h: Hush,
  of: HushClient,
  deviceId: string,
  store: ClientStore = new MemoryStore(),
  o: { approve?: boolean } = {},
) {
  const added = await HushClient.logIn({
    ...options(h, store),
    email: of.device.email,
    deviceId,
    code: (email) => h.smtp.code(email),
  });
  if (added.pending && o.approve !== false) {
    await of.approveDevice(deviceId, added.fingerprint());
    added.pending = false;
  }
  return added;
}

/**
 * A legacy account, without an account key, as a client that predates them (or the README's cURL
 * walkthrough) makes it; then its device `deviceId` logged in through the SDK.
 */
export async function legacyAccount(h: Hush, o: { deviceId?: string; store?: ClientStore } = {}) {
  const raw = await signUp(h, { deviceId: "curl" });
  return HushClient.logIn({
    ...options(h, o.store),
    email: raw.email,
    deviceId: o.deviceId ?? "phone",
    code: (email) => h.smtp.code(email),
  });
}

/** Records one event type of a client and waits for what a test expects. */
export function recorder<K extends keyof Events>(client: HushClient, name: K) {
  type E = Events[K];
  const seen: E[] = [];
  const waiters: { test: (e: E[]) => boolean; resolve: () => void }[] = [];
  client.on(name, (e) => {
    seen.push(e);
    for (const w of waiters.splice(0)) {
      if (w.test(seen)) w.resolve();
      else waiters.push(w);
    }
  });
  return {
    seen,
    until(test: (e: E[]) => boolean, timeoutMs = 30_000): Promise<E[]> {
      if (test(seen)) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`${name}: not there within ${timeoutMs} ms: ${JSON.stringify(seen)}`)),
          timeoutMs,
        );
        waiters.push({
          test,
          resolve: () => {
            clearTimeout(timer);
            resolve(seen);
          },
        });
      });
    },
  };
}
