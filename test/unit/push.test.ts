import { createECDH, randomBytes } from "node:crypto";
import ece from "http_ece";
import { ObjectId } from "mongodb";
import { describe, expect, it } from "vitest";
import { worthWaking } from "../../src/delivery/wake.js";
import { retryAfterSeconds } from "../../src/push/post.js";
import { encryptPayload, isP256Point, vapidPublicKey } from "../../src/push/webpush.js";

describe("Web Push pieces", () => {
  it("encrypts so that an independent RFC 8291 implementation (http_ece) decrypts, padded to one size", () => {
    const device = createECDH("prime256v1");
    const p256dh = device.generateKeys().toString("base64url");
    const auth = randomBytes(16).toString("base64url");
    const sizes = new Set<number>();
    for (const position of [1, 42, 1_000_000]) {
      const body = encryptPayload(Buffer.from(JSON.stringify({ v: 1, position })), p256dh, auth);
      sizes.add(body.length);
      const plain = ece.decrypt(body, { version: "aes128gcm", privateKey: device, authSecret: auth });
      expect(JSON.parse(plain.toString())).toEqual({ v: 1, position });
    }
    expect([...sizes]).toEqual([166]);
    // Another device's keys cannot open it.
    const other = createECDH("prime256v1");
    other.generateKeys();
    const body = encryptPayload(Buffer.from("{}"), p256dh, auth);
    expect(() => ece.decrypt(body, { version: "aes128gcm", privateKey: other, authSecret: auth })).toThrow();
  });

  it("knows a P-256 point from 65 other bytes", () => {
    const point = createECDH("prime256v1").generateKeys();
    expect(isP256Point(point)).toBe(true);
    const off = Buffer.from(point);
    off[64] = off[64]! ^ 1;
    expect(isP256Point(off)).toBe(false);
    expect(isP256Point(point.subarray(0, 33))).toBe(false);
    expect(vapidPublicKey(randomBytes(32).toString("base64url"))).toHaveLength(87);
  });

  it("wakes for others' messages, contact requests and acceptances, and the account's own device changes only", () => {
    const me = new ObjectId();
    const other = new ObjectId().toHexString();
    const e = (type: string, data: unknown) => ({ user_id: me, device_id: "d", type, data, position: 1 });
    expect(worthWaking(e("new_message", { message: { sender_id: other } }))).toBe(true);
    expect(worthWaking(e("new_message", { message: { sender_id: me.toHexString() } }))).toBe(false);
    expect(worthWaking(e("contacts_updated", { user_id: other, status: "incoming" }))).toBe(true);
    expect(worthWaking(e("contacts_updated", { user_id: other, status: "accepted" }))).toBe(true);
    expect(worthWaking(e("contacts_updated", { user_id: other, status: "removed" }))).toBe(false);
    expect(worthWaking(e("devices_changed", { user_id: me.toHexString() }))).toBe(true);
    expect(worthWaking(e("devices_changed", { user_id: other }))).toBe(false);
    for (const type of [
      "message_status_update",
      "message_edited",
      "message_deleted",
      "message_expired",
      "identity_changed",
    ])
      expect(worthWaking(e(type, {}))).toBe(false);
  });

  it("reads Retry-After as seconds or as an HTTP date", () => {
    const now = Date.parse("2026-12-07T00:00:00Z");
    expect(retryAfterSeconds("120", now)).toBe(120);
    expect(retryAfterSeconds("Mon, 07 Dec 2026 00:01:00 GMT", now)).toBe(60);
    expect(retryAfterSeconds(undefined, now)).toBeNull();
    expect(retryAfterSeconds("soon", now)).toBeNull();
  });
});
