import { BlockList, isIP } from "node:net";
import { z } from "@hono/zod-openapi";

/**
 * Addresses a URL a client supplies must not name: clients (and, for push endpoints, the server)
 * fetch these URLs, and one pointing into the operator's or a reader's own network would turn that
 * fetch into a probe of it (a cloud metadata service, a router, a local admin page).
 */
const refused = { ipv4: new BlockList(), ipv6: new BlockList() };
for (const [net, bits] of [
  ["0.0.0.0", 8], // "this network"
  ["10.0.0.0", 8],
  ["100.64.0.0", 10], // carrier-grade NAT
  ["127.0.0.0", 8],
  ["169.254.0.0", 16], // link-local, cloud metadata
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15], // benchmarking
  ["224.0.0.0", 4], // multicast
  ["240.0.0.0", 4], // reserved, broadcast
] as const)
  refused.ipv4.addSubnet(net, bits, "ipv4");
for (const [net, bits] of [
  ["::", 128],
  ["::1", 128],
  ["64:ff9b::", 96], // NAT64
  ["fc00::", 7], // unique local
  ["fe80::", 10], // link-local
  ["ff00::", 8], // multicast
] as const)
  refused.ipv6.addSubnet(net, bits, "ipv6");
// IPv4-mapped IPv6 (::ffff:a.b.c.d) is refused whatever it carries; not in the BlockList, which
// would take such a range to hold every IPv4 address.
const mapped = /^::ffff:/i;

/** Names that resolve inside a network by convention, and single-label (intranet) names. */
const localName = /(^|\.)(localhost|local|internal|home\.arpa)$/i;

/**
 * Whether a URL's host may be fetched: not an address in a private, loopback, link-local or
 * otherwise non-public range, nor a local name. The WHATWG parser has already turned every
 * spelling of an IPv4 address (`2130706433`, `0x7f.1`) into dotted form. A public name that
 * resolves to a private address is the fetcher's to refuse, at fetch time, where DNS is known.
 */
export function isPublicHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "").replace(/\.$/, "");
  const family = isIP(host);
  if (family === 4) return !refused.ipv4.check(host, "ipv4");
  if (family === 6) return !mapped.test(host) && !refused.ipv6.check(host, "ipv6");
  return host.includes(".") && !localName.test(host);
}

/** An https:// URL on a public host, at most `max` characters: for URLs clients will fetch. */
export const publicHttpsUrl = (max = 2048) =>
  z
    .url({ protocol: /^https$/, error: "must be an https:// URL" })
    .max(max)
    // Refinements run after a failed check too: a string that is no URL is the check's to name.
    .refine((u) => !URL.canParse(u) || isPublicHost(new URL(u).hostname), {
      message: "must not point at a private, loopback or link-local address",
    })
    .openapi({
      description:
        "An https:// URL on a public host: a private, loopback or link-local address is a 400 (other " +
        "people's clients fetch it)",
    });
