import { randomBytes } from "node:crypto";
import { ed25519 } from "@noble/curves/ed25519.js";
import { MongoClient, ObjectId } from "mongodb";
import { inject } from "vitest";
import { createDeps } from "../../src/compose.js";
import { loadConfig } from "../../src/config.js";
import { connectStore } from "../../src/db/store.js";
import type { Change } from "../../src/delivery/deliver.js";
import type { Deps } from "../../src/deps.js";
import { inventory } from "../../src/inventory.js";
import { createLogger } from "../../src/lib/logger.js";
import { smtpMailer } from "../../src/mail/mailer.js";
import { canMessage } from "../../src/policy/policy.js";
import { createServer } from "../../src/server.js";
import { findUser } from "../../src/users/repo.js";
import { FakeClock } from "./clock.js";
import { conformanceChecker, readBody, routeMatcher } from "./conformance.js";
import { commandEnded, requestOrigin, watchCommand } from "./query-watch.js";
import { startSmtp } from "./smtp.js";

export interface Res<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

/**
 * Starts the real server on a free port against the real store, in a database of its own, with a
 * fake clock and a real SMTP server. Everything it opens is closed by `close()`. Every query the
 * app sends is checked against the declared indexes (query-watch.ts); a test's own reads and writes
 * go through `raw`, a client of its own that is not checked.
 */
export async function startHush(
  env: Record<string, string> = {},
  opts: { uri?: string; dbName?: string } = {},
) {
  const smtp = await startSmtp();
  const config = loadConfig({
    NODE_ENV: "test",
    JWT_SECRET: randomBytes(32).toString("hex"),
    TRUST_PROXY: "1", // the test client stands in for one proxy: the last X-Forwarded-For entry is the client
    LOG_LEVEL: "silent",
    SMTP_URL: smtp.url,
    ...env,
  });
  const logs: string[] = [];
  const logger = createLogger("debug", (l) => logs.push(l));
  const dbName = opts.dbName ?? `hush_test_${randomBytes(6).toString("hex")}`;
  // No TTL indexes: the tests move an injected clock, and wall-clock TTL deletion would race them.
  const uri = opts.uri ?? inject("mongoUri");
  const store = await connectStore(uri, dbName, logger, {
    inventory,
    selectionTimeoutMs: 2_000,
    timeoutMs: config.STORE_TIMEOUT_MS,
    ttlGraceSeconds: null,
    onCommand: watchCommand,
  });
  store.client.on("commandSucceeded", commandEnded).on("commandFailed", commandEnded);
  const rawClient = new MongoClient(uri, { serverSelectionTimeoutMS: 2_000 });
  const clock = new FakeClock();
  const mailer = smtpMailer(smtp.url, config.MAIL_FROM);
  const deps = createDeps({ config, store, clock, logger, mailer });
  // Every change recordChange records, in order: what the devices named in it would be told.
  const changes: Change[] = [];
  deps.onChange = (c) => changes.push(c);
  let routeOf: ReturnType<typeof routeMatcher> | undefined;
  const server = createServer(deps, {
    around(req, handle) {
      const path = new URL(req.url).pathname;
      const route = routeOf?.(req.method, path)?.path ?? path;
      return requestOrigin.run(`${req.method} ${route}`, handle);
    },
  });
  routeOf = routeMatcher(server.app);
  const { port } = await server.listen(0);
  const url = `http://127.0.0.1:${port}`;
  const conforms = conformanceChecker(server.app);

  async function req<T = any>(
    method: string,
    path: string,
    o: { body?: unknown; token?: string; headers?: Record<string, string>; raw?: string } = {},
  ): Promise<Res<T>> {
    const headers: Record<string, string> = { ...o.headers };
    if (o.token) headers.authorization = `Bearer ${o.token}`;
    let body: string | undefined = o.raw;
    if (o.body !== undefined) {
      body = JSON.stringify(o.body);
      headers["content-type"] ??= "application/json";
    }
    const res = await fetch(url + path, { method, headers, body });
    const parsed = await readBody(res);
    conforms({ method, url: path, status: res.status, headers: res.headers, body: parsed });
    return { status: res.status, body: parsed as T, headers: res.headers };
  }

  return {
    url,
    deps: deps as Deps,
    server,
    clock,
    smtp,
    logs,
    req,
    changes,
    /** A collection as stored, for tests that prove what is (not) there; outside the index check. */
    raw: (name: string) => rawClient.db(dbName).collection(name),
    /** The response check `req` applies, for answers fetched some other way. */
    check: conforms,
    /** `shared`: other servers in the test use the database, so it is left for them. */
    async close(o: { shared?: boolean } = {}) {
      await server.close();
      if (!o.shared) await store.db.dropDatabase().catch(() => {});
      await store.close();
      await rawClient.close();
      mailer.close();
      await smtp.close();
    },
  };
}
export type Hush = Awaited<ReturnType<typeof startHush>>;

let ipCounter = 0;
/**
 * A distinct client IP, sent as the only X-Forwarded-For entry: with TRUST_PROXY=1 (startHush's
 * default) the test client plays the one trusted proxy, so this is the address the server sees.
 */
export const freshIp = () => `10.${(ipCounter >> 16) & 255}.${(ipCounter >> 8) & 255}.${ipCounter++ & 255}`;

export function newDeviceKey() {
  const secretKey = ed25519.utils.randomSecretKey();
  const publicKey = ed25519.getPublicKey(secretKey);
  return { secretKey, publicKey, b64: Buffer.from(publicKey).toString("base64") };
}

let n = 0;
export const uniqueEmail = (tag = "user") => `${tag}.${Date.now().toString(36)}.${n++}@example.com`;
export const uniqueUsername = (tag = "u") => `${tag}_${Date.now().toString(36)}_${n++}`.slice(0, 30);

/**
 * The link statement an account key signs (docs/devices.md), and its signature: what a client
 * computes to link a device, built here independently of the server's code.
 */
export const linkSignature = (
  accountSecret: Uint8Array,
  deviceId: string,
  identityKey: string,
  keyType = "ed25519",
) =>
  Buffer.from(
    ed25519.sign(
      new TextEncoder().encode(["hush-device-link-v1", deviceId, keyType, identityKey].join("\n")),
      accountSecret,
    ),
  ).toString("base64");

/**
 * Runs the whole email-OTP sign-up and returns the new account with its first device's tokens.
 * `accountKey`: sign up with an account key (`public_key`) that signs the first device.
 */
export async function signUp(
  h: Hush,
  o: {
    email?: string;
    username?: string;
    deviceId?: string;
    accountKey?: ReturnType<typeof newDeviceKey>;
  } = {},
) {
  const email = o.email ?? uniqueEmail();
  const ip = freshIp();
  const headers = { "x-forwarded-for": ip };
  const start = await h.req("POST", "/api/v1/auth/signup", { body: { email, purpose: "signup" }, headers });
  if (start.status !== 200) throw new Error(`signup ${start.status} ${JSON.stringify(start.body)}`);
  const verify = await h.req("POST", "/api/v1/auth/verify-otp", {
    body: { session_id: start.body.session_id, otp: h.smtp.code(email) },
    headers,
  });
  if (verify.status !== 200) throw new Error(`verify ${verify.status} ${JSON.stringify(verify.body)}`);
  const device = newDeviceKey();
  const deviceId = o.deviceId ?? `dev-${n++}`;
  const done = await h.req("POST", `/api/v1/auth/complete-signup?temp_token=${verify.body.temp_token}`, {
    body: {
      email,
      username: o.username ?? uniqueUsername(),
      full_name: "Test User",
      device_info: {
        device_id: deviceId,
        device_name: "Test Device",
        public_key: device.b64,
        ...(o.accountKey
          ? { account_signature: linkSignature(o.accountKey.secretKey, deviceId, device.b64) }
          : {}),
      },
      ...(o.accountKey ? { public_key: o.accountKey.b64 } : {}),
    },
  });
  if (done.status !== 201) throw new Error(`complete ${done.status} ${JSON.stringify(done.body)}`);
  return {
    id: done.body.id as string,
    email,
    username: done.body.username as string,
    token: done.body.session_token as string,
    refresh: done.body.refresh_token as string,
    deviceId,
    device,
    accountKey: o.accountKey,
    body: done.body,
  };
}
export type Account = Awaited<ReturnType<typeof signUp>>;

/** Logs an existing account in on another device through the login OTP flow. */
export async function logIn(h: Hush, email: string, deviceId: string, device = newDeviceKey()) {
  const headers = { "x-forwarded-for": freshIp() };
  const start = await h.req("POST", "/api/v1/auth/login", { body: { email }, headers });
  if (start.status !== 200) throw new Error(`login ${start.status} ${JSON.stringify(start.body)}`);
  const res = await h.req("POST", "/api/v1/auth/verify-otp", {
    headers,
    body: {
      session_id: start.body.session_id,
      otp: h.smtp.code(email),
      device_info: { device_id: deviceId, device_name: "Second Device", public_key: device.b64 },
    },
  });
  return { res, device };
}

/** The messaging rule as every route will ask it (src/policy/policy.ts), by hex ids; false for an unknown recipient. */
export async function mayMessage(h: Hush, senderId: string, recipientId: string) {
  const recipient = await findUser(h.deps, new ObjectId(recipientId));
  return recipient !== null && canMessage(h.deps, new ObjectId(senderId), recipient);
}

/** Drops a database a test's own server process created (startHush drops its own on close). */
export async function dropDatabase(dbName: string) {
  const client = await MongoClient.connect(inject("mongoUri"));
  try {
    await client.db(dbName).dropDatabase();
  } finally {
    await client.close();
  }
}
