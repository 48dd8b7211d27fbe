import { describe, expect, it } from "vitest";
import {
  clientAddressResolver,
  ipBucket,
  normalizeAddress,
  parseTrustProxy,
} from "../../src/http/client-ip.js";

describe("TRUST_PROXY", () => {
  it("is off, a hop count, or a list of proxy addresses and ranges", () => {
    expect(parseTrustProxy("false")).toBeNull();
    expect(parseTrustProxy("0")).toBeNull();
    expect(parseTrustProxy("2")).toEqual({ hops: 2 });
    expect(parseTrustProxy("10.0.0.0/8, ::1")).toEqual({ proxies: ["10.0.0.0/8", "::1"] });
    expect(parseTrustProxy("true")).toMatch(/how many proxies/);
    expect(parseTrustProxy("10.0.0.0/33")).toMatch(/not an address/);
    expect(parseTrustProxy("proxy.internal")).toMatch(/not an address/);
  });
});

describe("the client's address", () => {
  const peer = "10.0.0.2";
  it("off: the socket's peer, whatever X-Forwarded-For says", () => {
    expect(clientAddressResolver(null)(peer, "1.2.3.4")).toBe(peer);
  });

  it("N hops: the entry the outermost trusted proxy wrote, never the client-written ones before it", () => {
    const one = clientAddressResolver({ hops: 1 });
    expect(one(peer, "6.6.6.6, 1.2.3.4")).toBe("1.2.3.4");
    expect(one(peer, "1.2.3.4")).toBe("1.2.3.4");
    const two = clientAddressResolver({ hops: 2 });
    expect(two(peer, "6.6.6.6, 1.2.3.4, 10.0.0.9")).toBe("1.2.3.4");
    expect(two(peer, "10.0.0.9")).toBe("10.0.0.9"); // a shorter chain: the leftmost there is
  });

  it("listed proxies: the first address from the right that is not one of them", () => {
    const r = clientAddressResolver({ proxies: ["10.0.0.0/8"] });
    expect(r(peer, "6.6.6.6, 1.2.3.4, 10.0.0.9")).toBe("1.2.3.4");
    expect(r("192.0.2.1", "1.2.3.4")).toBe("192.0.2.1"); // the peer is no proxy: the header is the client's
  });

  it("skips garbage and normalizes ports, brackets and IPv4-mapped addresses", () => {
    const one = clientAddressResolver({ hops: 1 });
    expect(one(peer, "not-an-ip")).toBe(peer);
    expect(one("::ffff:10.0.0.2", undefined)).toBe("10.0.0.2");
    expect(normalizeAddress("1.2.3.4:5678")).toBe("1.2.3.4");
    expect(normalizeAddress("[2001:db8::1]:443")).toBe("2001:db8::1");
  });
});

describe("per-IP budget keys", () => {
  it("are the address for IPv4 and the /64 for IPv6", () => {
    expect(ipBucket("1.2.3.4")).toBe("1.2.3.4");
    expect(ipBucket("2001:db8:1:2:aaaa::1")).toBe("2001:db8:1:2::/64");
    expect(ipBucket("2001:db8:1:2::ffff")).toBe("2001:db8:1:2::/64");
    expect(ipBucket("2001:0db8:0001:0002:1:2:3:4")).toBe("2001:db8:1:2::/64");
    expect(ipBucket("::1")).toBe("0:0:0:0::/64");
  });
});
