import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { ed25519, x25519 } from "@noble/curves/ed25519.js";
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { expect } from "vitest";
import { type Hush, logIn, newDeviceKey, signUp } from "./hush.js";

/**
 * A test client that encrypts for real: content under a fresh AES-256-GCM key, that key wrapped
 * for each recipient device by X25519 agreement with the device's published identity key (its
 * Ed25519 key on the Montgomery curve) and HKDF-SHA256. The server sees only the results.
 */
export interface Device {
  userId: string;
  deviceId: string;
  email: string;
  token: string;
  /** The device's Ed25519 secret; its X25519 secret is derived from it. */
  secretKey: Uint8Array;
}
export interface Recipient {
  user_id: string;
  device_id: string;
  identity_key: string;
  registration_id?: number;
}

const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");
const unb64 = (s: string) => new Uint8Array(Buffer.from(s, "base64"));

function seal(key: Uint8Array, plaintext: Uint8Array): Uint8Array {
  const iv = randomBytes(12);
  const c = createCipheriv("aes-256-gcm", key, iv);
  const ct = Buffer.concat([c.update(plaintext), c.final()]);
  return new Uint8Array(Buffer.concat([iv, ct, c.getAuthTag()]));
}
function open(key: Uint8Array, blob: Uint8Array): Uint8Array {
  const d = createDecipheriv("aes-256-gcm", key, blob.subarray(0, 12));
  d.setAuthTag(blob.subarray(blob.length - 16));
  return new Uint8Array(Buffer.concat([d.update(blob.subarray(12, blob.length - 16)), d.final()]));
}
const kek = (shared: Uint8Array, info: Uint8Array) =>
  hkdf(sha256, shared, info, new TextEncoder().encode("hush test key wrap"), 32);

/** Wraps a message key for one device: ephemeral X25519 public key || AES-GCM(KEK, key). */
export function wrap(messageKey: Uint8Array, identityKey: string): string {
  const theirs = ed25519.utils.toMontgomery(unb64(identityKey));
  const eph = x25519.utils.randomSecretKey();
  const ephPub = x25519.getPublicKey(eph);
  const shared = x25519.getSharedSecret(eph, theirs);
  return b64(new Uint8Array([...ephPub, ...seal(kek(shared, ephPub), messageKey)]));
}

export function unwrap(device: Device, encryptedKey: string): Uint8Array {
  const blob = unb64(encryptedKey);
  const ephPub = blob.subarray(0, 32);
  const shared = x25519.getSharedSecret(ed25519.utils.toMontgomerySecret(device.secretKey), ephPub);
  return open(kek(shared, ephPub), blob.subarray(32));
}

/** Encrypts once, wraps for every recipient; keeps the key so a test can look for it in storage. */
export function encrypt(plaintext: string, recipients: Recipient[]) {
  const messageKey = new Uint8Array(randomBytes(32));
  return {
    messageKey,
    encrypted_content: b64(seal(messageKey, new TextEncoder().encode(plaintext))),
    recipient_keys: recipients.map((r) => ({
      user_id: r.user_id,
      device_id: r.device_id,
      encrypted_key: wrap(messageKey, r.identity_key),
      ...(typeof r.registration_id === "number" ? { registration_id: r.registration_id } : {}),
    })),
  };
}

/** The request fields of an encrypted message, to spread into a send or edit body. */
export function wire(plaintext: string, recipients: Recipient[]) {
  const { encrypted_content, recipient_keys } = encrypt(plaintext, recipients);
  return { encrypted_content, recipient_keys };
}

/** What one device reads of a message body from the server, with its own key entry only. */
export function decrypt(device: Device, message: { encrypted_content: string; recipient_keys: any[] }) {
  expect(message.recipient_keys).toHaveLength(1);
  const [entry] = message.recipient_keys;
  expect(entry).toMatchObject({ user_id: device.userId, device_id: device.deviceId });
  const key = unwrap(device, entry.encrypted_key);
  return new TextDecoder().decode(open(key, unb64(message.encrypted_content)));
}

let n = 0;
/** A new account and its first device. */
export async function newAccount(h: Hush): Promise<Device> {
  const a = await signUp(h, { deviceId: `phone-${n++}` });
  return {
    userId: a.id,
    deviceId: a.deviceId,
    email: a.email,
    token: a.token,
    secretKey: a.device.secretKey,
  };
}

/** Another device of the same account, through the login flow. */
export async function addDevice(h: Hush, d: Device, deviceId = `laptop-${n++}`): Promise<Device> {
  const key = newDeviceKey();
  const { res } = await logIn(h, d.email, deviceId, key);
  if (res.status !== 200) throw new Error(`login ${res.status} ${JSON.stringify(res.body)}`);
  return { ...d, deviceId, token: res.body.session_token, secretKey: key.secretKey };
}

/** Every device `sender` must wrap for among `userIds`, from the key directory, as a client would. */
export async function recipientsOf(h: Hush, sender: Device, userIds: string[]): Promise<Recipient[]> {
  const out: Recipient[] = [];
  for (const userId of userIds) {
    const res = await h.req("GET", `/api/v1/users/${userId}/devices`, { token: sender.token });
    expect(res.status).toBe(200);
    for (const d of res.body.devices) {
      if (userId === sender.userId && d.device_id === sender.deviceId) continue;
      out.push({
        user_id: userId,
        device_id: d.device_id,
        identity_key: d.identity_key,
        ...(d.registration_id !== null ? { registration_id: d.registration_id } : {}),
      });
    }
  }
  return out;
}

/** Every device `sender` must wrap for in a conversation, from the conversation's device list. */
export async function devicesIn(h: Hush, sender: Device, conversationId: string): Promise<Recipient[]> {
  const res = await h.req("GET", `/api/v1/conversations/${conversationId}/devices`, { token: sender.token });
  expect(res.status).toBe(200);
  return res.body.devices
    .filter((d: any) => !(d.user_id === sender.userId && d.device_id === sender.deviceId))
    .map((d: any) => ({
      user_id: d.user_id,
      device_id: d.device_id,
      identity_key: d.identity_key,
      ...(d.registration_id !== null ? { registration_id: d.registration_id } : {}),
    }));
}

/** Encrypts `text` for every current device of the conversation (or `recipients`) and sends it. */
export async function send(
  h: Hush,
  d: Device,
  conversationId: string,
  text: string,
  { recipients, ...extra }: Record<string, unknown> & { recipients?: Recipient[] } = {},
) {
  const to = recipients ?? (await devicesIn(h, d, conversationId));
  const sealed = encrypt(text, to);
  const res = await h.req("POST", "/api/v1/messages", {
    token: d.token,
    body: {
      conversation_id: conversationId,
      encrypted_content: sealed.encrypted_content,
      recipient_keys: sealed.recipient_keys,
      ...extra,
    },
  });
  return { res, sealed, recipients: to };
}

export async function direct(h: Hush, a: Device, b: Device): Promise<string> {
  const res = await h.req("POST", "/api/v1/conversations", {
    token: a.token,
    body: { participant_id: b.userId },
  });
  expect([200, 201]).toContain(res.status);
  return res.body.id;
}

export async function group(h: Hush, creator: Device, others: Device[], name = "Team"): Promise<string> {
  const res = await h.req("POST", "/api/v1/conversations/groups", {
    token: creator.token,
    body: { name, participant_ids: others.map((o) => o.userId) },
  });
  expect(res.status).toBe(201);
  return res.body.id;
}

export const history = (h: Hush, d: Device, conversationId: string, query = "") =>
  h.req("GET", `/api/v1/messages/conversations/${conversationId}/messages${query}`, { token: d.token });
