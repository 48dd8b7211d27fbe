import { describe, expect, it } from "vitest";
import { type Checker, conformanceChecker, firstDifference, type Observed } from "../helpers/conformance.js";

// Built from the real route declarations, without a database: the checker only reads schemas.
const check: Checker = conformanceChecker();

const ts = "2026-01-19T02:00:00.000Z";
const device = {
  device_id: "phone",
  device_name: "Phone",
  key_type: "ed25519",
  identity_key: "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
  created_at: ts,
  last_seen: ts,
  status: "unsigned",
  account_signature: null,
  current: true,
};
const user = () => ({
  id: "507f1f77bcf86cd799439011",
  email: "user@example.com",
  username: "johndoe",
  public_key: null,
  profile: {
    full_name: "John Doe",
    mobile: null,
    address: null,
    date_of_birth: "1995-01-15",
    gender: "male",
    bio: null,
    avatar_url: null,
    created_at: ts,
  },
  privacy: {
    discoverable_by_email: true,
    discoverable_by_username: true,
    show_online_status: true,
    read_receipts: true,
    allow_messages_from: "everyone",
  },
  devices: [{ ...device }],
  status: { online: false, last_seen: ts },
});

const json = (extra: Record<string, string> = {}) =>
  new Headers({ "content-type": "application/json", "x-request-id": "req-12345678", ...extra });
const me = (body: unknown, headers = json()): Observed => ({
  method: "GET",
  url: "/api/v1/auth/me",
  status: 200,
  headers,
  body,
});

describe("the response conformance check", () => {
  it("passes a body exactly as declared", () => {
    expect(() => check(me(user()))).not.toThrow();
  });

  it("fails on an undeclared field at the top level", () => {
    expect(() => check(me({ ...user(), code_hash: "x" }))).toThrow(/undeclared field body\.code_hash/);
  });

  it("fails on an undeclared field in a nested object", () => {
    const u = user();
    expect(() => check(me({ ...u, profile: { ...u.profile, email: "x@y.z" } }))).toThrow(
      /undeclared field body\.profile\.email/,
    );
  });

  it("fails on an undeclared field in an array element", () => {
    const u = user();
    u.devices.push({ ...device, device_id: "laptop", ...{ secret: "k" } });
    expect(() => check(me(u))).toThrow(/undeclared field body\.devices\[1\]\.secret/);
  });

  it("fails on an undeclared field inside a union member", () => {
    const signup = { purpose: "signup", verified: true, temp_token: "t", message: "ok", user_id: "x" };
    const observed: Observed = {
      method: "POST",
      url: "/api/v1/auth/verify-otp",
      status: 200,
      headers: json({ "x-ratelimit-limit": "3", "x-ratelimit-remaining": "2", "x-ratelimit-reset": "1" }),
      body: signup,
    };
    expect(() => check(observed)).toThrow(/undeclared field body\.user_id/);
  });

  it("fails on a value off its schema and on an undeclared status", () => {
    const u = user();
    expect(() => check(me({ ...u, status: { online: false, last_seen: "yesterday" } }))).toThrow(
      /off its schema/,
    );
    expect(() => check({ ...me(user()), status: 418 })).toThrow(/does not declare/);
  });

  it("fails when a declared header is missing or malformed", () => {
    expect(() => check(me(user(), new Headers({ "content-type": "application/json" })))).toThrow(
      /X-Request-Id is missing/,
    );
    const limited: Observed = {
      method: "POST",
      url: "/api/v1/auth/signup",
      status: 200,
      headers: json({ "x-ratelimit-limit": "3", "x-ratelimit-reset": "1700000000" }),
      body: { session_id: "9f2c4e1ab07d43c6e5f81a2b3c4d5e6f", expires_in: 300, message: "sent" },
    };
    expect(() => check(limited)).toThrow(/X-RateLimit-Remaining is missing/);
    limited.headers.set("x-ratelimit-remaining", "two");
    expect(() => check(limited)).toThrow(/X-RateLimit-Remaining is malformed/);
    limited.headers.set("x-ratelimit-remaining", "2");
    expect(() => check(limited)).not.toThrow();
  });

  it("fails on a rate-limit header the response does not declare", () => {
    expect(() => check(me(user(), json({ "retry-after": "5" })))).toThrow(/sent Retry-After/);
  });

  it("fails on an error code the route does not declare", () => {
    const error = (code: string): Observed => ({
      method: "GET",
      url: "/api/v1/users/507f1f77bcf86cd799439011",
      status: 404,
      headers: json(),
      body: { detail: "no", code },
    });
    expect(() => check(error("USER_NOT_FOUND"))).not.toThrow();
    expect(() => check(error("NOT_FOUND"))).toThrow(
      /code NOT_FOUND is not among the declared USER_NOT_FOUND/,
    );
  });

  it("fails on a body where none is declared", () => {
    const logout = { method: "POST", url: "/api/v1/auth/logout", status: 204, headers: json() };
    expect(() => check({ ...logout, body: null })).not.toThrow();
    expect(() => check({ ...logout, body: { ok: true } })).toThrow(/declared without a body/);
  });
});

describe("firstDifference", () => {
  it("names keys dropped, keys filled in and values changed", () => {
    expect(firstDifference({ a: [{ b: 1, c: 2 }] }, { a: [{ b: 1 }] }, "x")).toBe(
      "undeclared field x.a[0].c",
    );
    expect(firstDifference({}, { d: 0 }, "x")).toMatch(/x\.d was not sent/);
    expect(firstDifference({ e: " a" }, { e: "a" }, "x")).toMatch(/x\.e is " a"/);
    expect(firstDifference([1, 2], [1, 2], "x")).toBeNull();
  });
});
