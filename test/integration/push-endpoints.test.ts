import { createECDH, randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Lookup, type PostOptions, postPush, RefusedEndpoint } from "../../src/push/post.js";
import { newAccount } from "../helpers/e2e.js";
import { type Hush, startHush } from "../helpers/hush.js";

/*
 * A push endpoint is a URL a stranger chose. In production (PUSH_ALLOW_PRIVATE refused) only https
 * on a public address is taken, when the subscription is stored and again on the address each push
 * actually connects to.
 */

let h: Hush;
beforeAll(async () => {
  h = await startHush({ NODE_ENV: "production" });
});
afterAll(() => h?.close());

describe("storing a subscription in production", () => {
  /** A device's push keys, as a browser makes them. */
  const keys = () => ({
    p256dh: createECDH("prime256v1").generateKeys().toString("base64url"),
    auth: randomBytes(16).toString("base64url"),
  });

  it("refuses http:, private, loopback, link-local and IPv4-mapped addresses, naming the endpoint", async () => {
    const d = await newAccount(h);
    const k = keys();
    for (const endpoint of [
      "http://push.example.com/wpush/1",
      "https://127.0.0.1/wpush/1",
      "https://10.1.2.3/wpush/1",
      "https://169.254.169.254/latest/meta-data",
      "https://[::1]/wpush/1",
      "https://[::ffff:127.0.0.1]/wpush/1",
      "https://[fe80::1]/wpush/1",
      "https://0.0.0.0/wpush/1",
      "https://224.0.0.1/wpush/1",
      "https://localhost/wpush/1",
    ]) {
      const res = await h.req("PUT", "/api/v1/push/subscription", {
        token: d.token,
        body: { endpoint, keys: k },
      });
      expect(res.status, endpoint).toBe(400);
      expect(Object.keys(res.body.fields), endpoint).toEqual(["endpoint"]);
    }
    const ok = await h.req("PUT", "/api/v1/push/subscription", {
      token: d.token,
      body: { endpoint: "https://push.example.com/wpush/1", keys: k },
    });
    expect(ok.status).toBe(204);
  });
});

describe("sending a push without PUSH_ALLOW_PRIVATE", () => {
  /** A server on loopback counting the connections it is offered: none may reach it. */
  let target: Server;
  let port = 0;
  let connections = 0;
  beforeAll(async () => {
    target = createServer((_req, res) => res.writeHead(201).end());
    target.on("connection", () => connections++);
    await new Promise<void>((r) => target.listen(0, "127.0.0.1", r));
    port = (target.address() as AddressInfo).port;
  });
  afterAll(async () => {
    target.closeAllConnections();
    await new Promise((r) => target.close(r));
  });

  /** A resolver that answers `addresses` for every name: a DNS answer the server does not control. */
  const resolvesTo = (...addresses: [string, 4 | 6][]): Lookup =>
    ((_host: string, options: { all?: boolean }, cb: (...a: unknown[]) => void) => {
      const all = addresses.map(([address, family]) => ({ address, family }));
      if (options.all) cb(null, all);
      else cb(null, all[0]!.address, all[0]!.family);
    }) as unknown as Lookup;
  const post = (url: string, o: Partial<PostOptions> = {}) =>
    postPush(url, {}, Buffer.from("x"), { allowPrivate: false, timeoutMs: 2_000, ...o });

  it("refuses a hostname that resolves to a private or loopback address, before connecting", async () => {
    for (const answer of [
      [["127.0.0.1", 4]],
      [["10.0.0.7", 4]],
      [["::ffff:127.0.0.1", 6]],
      [["::1", 6]],
      // One private answer among public ones is enough to refuse the name.
      [
        ["93.184.216.34", 4],
        ["127.0.0.1", 4],
      ],
    ] as [string, 4 | 6][][]) {
      await expect(
        post(`https://push.example.com:${port}/w`, { lookup: resolvesTo(...answer) }),
      ).rejects.toBeInstanceOf(RefusedEndpoint);
    }
    expect(connections).toBe(0);
  });

  it("refuses IP literals and http: without resolving anything", async () => {
    await expect(post(`https://127.0.0.1:${port}/w`)).rejects.toBeInstanceOf(RefusedEndpoint);
    await expect(post(`https://[::ffff:127.0.0.1]:${port}/w`)).rejects.toBeInstanceOf(RefusedEndpoint);
    await expect(post(`http://push.example.com:${port}/w`)).rejects.toBeInstanceOf(RefusedEndpoint);
    expect(connections).toBe(0);
  });

  it("would have reached it: the same request with PUSH_ALLOW_PRIVATE connects (the control)", async () => {
    const answer = await post(`http://push.example.com:${port}/w`, {
      allowPrivate: true,
      lookup: resolvesTo(["127.0.0.1", 4]),
    });
    expect(answer.status).toBe(201);
    expect(connections).toBe(1);
  });

  it("follows no redirect and gives up on a push service that does not answer in time", async () => {
    const slow = createServer((req) => {
      if (req.url === "/moved") return; // never answers
    });
    let redirectsFollowed = 0;
    const hop = createServer((req, res) => {
      if (req.url === "/next") redirectsFollowed++;
      res.writeHead(307, { location: "/next" }).end();
    });
    await new Promise<void>((r) => slow.listen(0, "127.0.0.1", r));
    await new Promise<void>((r) => hop.listen(0, "127.0.0.1", r));
    try {
      const at = (s: Server, path: string) => `http://127.0.0.1:${(s.address() as AddressInfo).port}${path}`;
      expect((await post(at(hop, "/w"), { allowPrivate: true })).status).toBe(307);
      expect(redirectsFollowed).toBe(0);
      await expect(post(at(slow, "/moved"), { allowPrivate: true, timeoutMs: 300 })).rejects.toMatchObject({
        name: "PushTimeout",
      });
    } finally {
      for (const s of [slow, hop]) {
        s.closeAllConnections();
        await new Promise((r) => s.close(r));
      }
    }
  });
});
