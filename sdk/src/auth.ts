import { b64, unb64 } from "./bytes.js";
import { type IdentityKeyPair, newIdentity } from "./crypto.js";
import { type Api, ok } from "./http.js";
import { signLink } from "./linking.js";
import {
  type AccountRecord,
  type ClientStore,
  type DeviceRecord,
  keys,
  type SessionRecord,
} from "./store.js";

/** Asks the app for the code mailed to `email` (a prompt, a test's mailbox...). */
export type CodeCallback = (email: string) => string | Promise<string>;

export interface DeviceOptions {
  deviceId: string;
  deviceName?: string;
}

/** The device's identity: made once, on first use, and kept in the store; never sent anywhere. */
export async function deviceIdentity(store: ClientStore, email: string, deviceId: string) {
  const existing = await store.get<DeviceRecord>(keys.device);
  if (existing) {
    if (existing.deviceId !== deviceId || existing.email.toLowerCase() !== email.toLowerCase())
      throw new Error(`this store belongs to ${existing.email}'s device ${existing.deviceId}`);
    return existing;
  }
  const id = newIdentity();
  const record: DeviceRecord = {
    userId: null,
    email,
    deviceId,
    secretKey: b64(id.secretKey),
    publicKey: b64(id.publicKey),
  };
  await store.set(keys.device, record);
  return record;
}

const tokensOf = (t: { session_token: string; refresh_token: string }): SessionRecord => ({
  sessionToken: t.session_token,
  refreshToken: t.refresh_token,
});

/**
 * Email-OTP sign-up; the code comes from `code`. The account key is made here, its secret stored
 * before its public half is sent, and it signs this first device. Returns the user id and session.
 */
export async function signUpFlow(
  api: Api,
  store: ClientStore,
  device: DeviceRecord,
  o: DeviceOptions & { email: string; username: string; fullName: string; code: CodeCallback },
) {
  const account = (await store.get<AccountRecord>(keys.account)) ?? newAccountKey();
  await store.set(keys.account, account);
  const accountSignature = signLink(unb64(account.secretKey!), {
    device_id: o.deviceId,
    key_type: "ed25519",
    identity_key: device.publicKey,
  });
  const started = ok(
    "signup",
    await api.POST("/api/v1/auth/signup", { body: { email: o.email, purpose: "signup" } }),
  );
  const otp = await o.code(o.email);
  const verified = ok(
    "verify-otp",
    await api.POST("/api/v1/auth/verify-otp", { body: { session_id: started.session_id, otp } }),
  );
  if (verified.purpose !== "signup") throw new Error(`expected a sign-up, got ${verified.purpose}`);
  const done = ok(
    "complete-signup",
    await api.POST("/api/v1/auth/complete-signup", {
      params: { query: { temp_token: verified.temp_token } },
      body: {
        email: o.email,
        username: o.username,
        full_name: o.fullName,
        public_key: account.publicKey,
        device_info: {
          device_id: o.deviceId,
          device_name: o.deviceName ?? o.deviceId,
          public_key: device.publicKey,
          account_signature: accountSignature,
        },
      },
    }),
  );
  return { userId: done.id, session: tokensOf(done), pending: false };
}

function newAccountKey(): AccountRecord {
  const pair = newIdentity();
  return { publicKey: b64(pair.publicKey), secretKey: b64(pair.secretKey) };
}

/**
 * Email-OTP login of this device (a new one, or this one again). On an account with an account key
 * a new device comes back `pending`: a linked device must approve it (`approveDevice`). The
 * account key the server names is pinned here, on first use.
 */
export async function logInFlow(
  api: Api,
  store: ClientStore,
  device: DeviceRecord,
  o: DeviceOptions & { email: string; code: CodeCallback },
) {
  const started = ok("login", await api.POST("/api/v1/auth/login", { body: { email: o.email } }));
  const otp = await o.code(o.email);
  const verified = ok(
    "verify-otp",
    await api.POST("/api/v1/auth/verify-otp", {
      body: {
        session_id: started.session_id,
        otp,
        device_info: {
          device_id: o.deviceId,
          device_name: o.deviceName ?? o.deviceId,
          public_key: device.publicKey,
        },
      },
    }),
  );
  if (verified.purpose !== "login") throw new Error(`expected a login, got ${verified.purpose}`);
  const known = await store.get<AccountRecord>(keys.account);
  if (!known) await store.set(keys.account, { publicKey: verified.user.public_key, secretKey: null });
  const me = verified.user.devices.find((d) => d.device_id === o.deviceId);
  return { userId: verified.user.id, session: tokensOf(verified), pending: me?.status === "pending" };
}

export type { IdentityKeyPair };
