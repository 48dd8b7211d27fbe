import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { isIP, type Socket } from "node:net";
import { isPublicHost } from "../lib/public-url.js";

/*
 * The one request Hush makes to a URL a stranger chose: a push endpoint. So that it cannot become
 * a way into the operator's network, every address is checked where it is used: the resolved
 * addresses before connecting (a custom `lookup`), and the address the socket actually connected
 * to (an IP literal skips the lookup; a DNS answer can change between two lookups). No redirect is
 * followed (node:http follows none), no response body is read, and the whole exchange has a deadline.
 */

export class RefusedEndpoint extends Error {
  override name = "RefusedEndpoint";
}
export class PushTimeout extends Error {
  override name = "PushTimeout";
}

export type Lookup = typeof dnsLookup;

export interface PostOptions {
  /** PUSH_ALLOW_PRIVATE: development and tests may push to http:// and loopback. */
  allowPrivate: boolean;
  timeoutMs: number;
  /** The resolver (tests give one that answers a private address for a public-looking name). */
  lookup?: Lookup;
}

export interface PostAnswer {
  status: number;
  /** Retry-After, in seconds from now, when the push service gave one. */
  retryAfter: number | null;
}

const publicAddress = (address: string) => isPublicHost(address) && isIP(address) !== 0;

type LookupCallback = (err: Error | null, address?: string | LookupAddress[], family?: number) => void;
type AnyLookup = (hostname: string, options: object, callback: LookupCallback) => void;

/** A lookup that answers only public addresses, refusing the whole name if any answer is not. */
function guardedLookup(base: Lookup): Lookup {
  const guarded: AnyLookup = (hostname, options, callback) =>
    (base as unknown as AnyLookup)(hostname, options, (err, address, family) => {
      if (err || address === undefined) return callback(err);
      const all = Array.isArray(address) ? address.map((a) => a.address) : [address];
      if (all.some((a) => !publicAddress(a)))
        return callback(new RefusedEndpoint(`${hostname} resolves to a non-public address`));
      callback(null, address, family);
    });
  return guarded as unknown as Lookup;
}

/** POSTs a push message; resolves with the push service's status, or rejects (refused, timeout, network). */
export function postPush(
  endpoint: string,
  headers: Record<string, string>,
  body: Buffer,
  o: PostOptions,
): Promise<PostAnswer> {
  const url = new URL(endpoint);
  const secure = url.protocol === "https:";
  if (!secure && !(o.allowPrivate && url.protocol === "http:"))
    return Promise.reject(new RefusedEndpoint("only https:// push endpoints are allowed"));
  if (!o.allowPrivate && !isPublicHost(url.hostname))
    return Promise.reject(new RefusedEndpoint("the endpoint's host is not public"));
  const request = secure ? httpsRequest : httpRequest;
  return new Promise<PostAnswer>((resolve, reject) => {
    const req = request(url, {
      method: "POST",
      headers: { ...headers, "content-length": String(body.length) },
      agent: false,
      lookup: o.allowPrivate ? o.lookup : guardedLookup(o.lookup ?? dnsLookup),
    });
    const deadline = setTimeout(
      () => req.destroy(new PushTimeout(`no answer within ${o.timeoutMs} ms`)),
      o.timeoutMs,
    );
    req.on("socket", (socket: Socket) => {
      socket.once("connect", () => {
        const address = socket.remoteAddress ?? "";
        if (!o.allowPrivate && !publicAddress(address))
          req.destroy(new RefusedEndpoint("connected to a non-public address"));
      });
    });
    req.on("response", (res: IncomingMessage) => {
      clearTimeout(deadline);
      // Nothing in the body matters: it is not read at all.
      res.destroy();
      resolve({ status: res.statusCode ?? 0, retryAfter: retryAfterSeconds(res.headers["retry-after"]) });
    });
    req.on("error", (err) => {
      clearTimeout(deadline);
      reject(err);
    });
    req.end(body);
  });
}

/** Retry-After as seconds from now: a number of seconds or an HTTP date; null when absent or bad. */
export function retryAfterSeconds(value: string | undefined, now = Date.now()): number | null {
  if (!value) return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - now) / 1000));
}
