import { BlockList, isIP, isIPv4, isIPv6 } from "node:net";

/**
 * Which proxies in front of Hush to believe. Each proxy appends the address it received the
 * connection from to X-Forwarded-For, so the list's right end is written by the proxies and its
 * left end by whoever connected first: the client, who can write anything there. The client's
 * address is therefore read from the right: past `hops` proxies, or past every address `proxies`
 * names. `null` believes no header: the socket's peer is the client.
 */
export type TrustProxy = null | { hops: number } | { proxies: string[] };

/** Parses TRUST_PROXY: off, a hop count, or a comma-separated list of addresses and CIDR ranges. */
export function parseTrustProxy(value: string): TrustProxy | string {
  const v = value.trim().toLowerCase();
  if (["false", "0", "off", "no", "none"].includes(v)) return null;
  if (/^\d+$/.test(v)) {
    const hops = Number(v);
    return hops <= 10 ? { hops } : "at most 10 proxy hops";
  }
  if (["true", "yes", "on"].includes(v))
    return "name how many proxies to trust (e.g. 1) or their addresses; `true` is ambiguous";
  const proxies = v.split(",").map((s) => s.trim());
  const bad = proxies.filter((p) => !toBlockList([p]));
  return bad.length ? `not an address or CIDR range: ${bad.join(", ")}` : { proxies };
}

function toBlockList(entries: string[]): BlockList | null {
  const list = new BlockList();
  for (const entry of entries) {
    const [address = "", bits] = entry.split("/");
    const family = isIPv4(address) ? "ipv4" : isIPv6(address) ? "ipv6" : null;
    if (!family) return null;
    if (bits === undefined) {
      list.addAddress(address, family);
      continue;
    }
    const prefix = Number(bits);
    if (!/^\d+$/.test(bits) || prefix > (family === "ipv4" ? 32 : 128)) return null;
    list.addSubnet(address, prefix, family);
  }
  return list;
}

/** Strips a port, brackets and the IPv4-mapped prefix; null for anything that is not an address. */
export function normalizeAddress(raw: string | undefined): string | null {
  if (!raw) return null;
  let a = raw.trim();
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(a);
  if (bracketed) a = bracketed[1]!;
  else if (/^[\d.]+:\d+$/.test(a)) a = a.slice(0, a.lastIndexOf(":"));
  if (a.toLowerCase().startsWith("::ffff:") && isIPv4(a.slice(7))) a = a.slice(7);
  return isIP(a) ? a.toLowerCase() : null;
}

/** Builds the resolver once: (socket peer, X-Forwarded-For header) → the client's address. */
export function clientAddressResolver(trust: TrustProxy) {
  const trusted = trust && "proxies" in trust ? toBlockList(trust.proxies)! : null;
  const isTrusted = (a: string) => trusted!.check(a, isIPv4(a) ? "ipv4" : "ipv6");
  return (peer: string | undefined, forwarded: string | undefined): string => {
    const remote = normalizeAddress(peer) ?? "unknown";
    if (!trust || !forwarded) return remote;
    const hops = [...forwarded.split(",").map(normalizeAddress), remote];
    let i = hops.length - 1;
    if (trusted) {
      while (i > 0 && hops[i] && isTrusted(hops[i]!)) i--;
    } else {
      i = Math.max(0, hops.length - 1 - (trust as { hops: number }).hops);
    }
    // Garbage where an address should be: fall back to the nearest real address to its right.
    while (i < hops.length - 1 && !hops[i]) i++;
    return hops[i] ?? remote;
  };
}

/**
 * The key per-IP budgets count under: the address itself for IPv4, its /64 for IPv6, since one
 * subscriber usually holds a whole /64 and could otherwise rotate through 2^64 addresses.
 */
export function ipBucket(address: string): string {
  if (!isIPv6(address)) return address;
  const [head = "", tail = ""] = address.split("::");
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  if (right.length && right.at(-1)!.includes(".")) right.splice(-1, 1, "0", "0"); // embedded IPv4
  const groups = address.includes("::")
    ? [...left, ...Array(8 - left.length - right.length).fill("0"), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((g) => Number.parseInt(g || "0", 16).toString(16))
    .join(":")}::/64`;
}
