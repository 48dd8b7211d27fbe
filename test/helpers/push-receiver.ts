import { createECDH, randomBytes } from "node:crypto";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import ece from "http_ece";
import { decodeProtectedHeader, importJWK, jwtVerify } from "jose";

/*
 * A Web Push receiver on loopback: the push service and the device in one. It keeps each device's
 * push keys (its private half never leaves the test), answers each push as the test queued
 * (201 by default), and opens what it got with http_ece and jose, independently of the server's
 * code: decryption with the device's private key (RFC 8291), the VAPID JWT checked against the
 * server's published key (RFC 8292).
 */

export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}
interface Answer {
  status: number;
  headers?: Record<string, string>;
  /** Never answer: the server's timeout has to cut it. */
  hang?: boolean;
}

export async function startPushReceiver() {
  const got: Received[] = [];
  const answers = new Map<string, Answer[]>();
  const hanging = new Set<import("node:http").ServerResponse>();
  let notify = () => {};
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const path = req.url ?? "";
      got.push({ path, headers: req.headers, body: Buffer.concat(chunks) });
      notify();
      const a = answers.get(path)?.shift() ?? { status: 201 };
      if (a.hang) hanging.add(res);
      else res.writeHead(a.status, a.headers).end("ignored by the server");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let n = 0;

  return {
    origin,
    got,
    /** A new device's subscription (its keys made here) at a path of its own. */
    device() {
      const ecdh = createECDH("prime256v1");
      const p256dh = ecdh.generateKeys().toString("base64url");
      const auth = randomBytes(16).toString("base64url");
      const path = `/wpush/${n++}-${randomBytes(4).toString("hex")}`;
      return {
        path,
        subscription: { endpoint: origin + path, keys: { p256dh, auth } },
        /** What this device was sent. */
        pushes: () => got.filter((g) => g.path === path),
        /** Decrypts a push as the device would: RFC 8291, by http_ece. */
        open: (r: Received) =>
          JSON.parse(
            ece.decrypt(r.body, { version: "aes128gcm", privateKey: ecdh, authSecret: auth }).toString(),
          ),
        /** Queues how the push service answers this device's next pushes. */
        answer: (...a: Answer[]) => answers.set(path, [...(answers.get(path) ?? []), ...a]),
      };
    },
    /** Resolves once `count` pushes in all have come (bounded: rejects after `ms`). */
    async waitFor(count: number, ms = 10_000) {
      const deadline = Date.now() + ms;
      while (got.length < count) {
        if (Date.now() > deadline) throw new Error(`expected ${count} pushes, got ${got.length}`);
        await new Promise<void>((r) => {
          notify = r;
          setTimeout(r, 50);
        });
      }
    },
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
export type PushReceiver = Awaited<ReturnType<typeof startPushReceiver>>;
export type PushDevice = ReturnType<PushReceiver["device"]>;

/**
 * Checks a push's VAPID header as a push service does: `vapid t=<JWT>, k=<key>`, the key the
 * server publishes, an ES256 signature by it, `aud` the endpoint's origin, `exp` within a day of
 * `now`, `sub` the contact. Returns the JWT's claims.
 */
export async function verifyVapid(r: Received, publishedKey: string, origin: string, now: Date) {
  const m = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(String(r.headers.authorization));
  if (!m) throw new Error(`not a VAPID header: ${r.headers.authorization}`);
  const [, jwt, k] = m;
  if (k !== publishedKey) throw new Error("k is not the published key");
  const raw = Buffer.from(publishedKey, "base64url");
  const key = await importJWK(
    {
      kty: "EC",
      crv: "P-256",
      x: raw.subarray(1, 33).toString("base64url"),
      y: raw.subarray(33).toString("base64url"),
    },
    "ES256",
  );
  if (decodeProtectedHeader(jwt!).alg !== "ES256") throw new Error("not ES256");
  const { payload } = await jwtVerify(jwt!, key, {
    audience: origin,
    currentDate: now,
    algorithms: ["ES256"],
  });
  if (!payload.exp || payload.exp * 1000 > now.getTime() + 86_400_000) throw new Error("exp beyond 24 h");
  return payload;
}
