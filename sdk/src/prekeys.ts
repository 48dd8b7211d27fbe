import { ed25519 } from "@noble/curves/ed25519.js";
import { b64 } from "./bytes.js";
import { type IdentityKeyPair, newPrekey, randomBytes } from "./crypto.js";
import { type Api, ok } from "./http.js";
import { kemKeyPair } from "./pqxdh.js";
import { type ClientStore, keys, type PrekeyRecord } from "./store.js";

/** Top up below this many unclaimed one-time prekeys: what a day of claims can take (GET /keys/count). */
export const PREKEY_LOW = 100;
/** Fill up to this many; the server holds at most 500 per device. */
export const PREKEY_TARGET = 200;
const PER_UPLOAD = 100;
/** KEM keys are 1.5 kB and slower to make: smaller uploads, each made just before it leaves. */
const KEM_PER_UPLOAD = 25;

const registrationId = () => {
  const [a, b] = randomBytes(2);
  return 1 + (((a! << 8) | b!) % 16380);
};

/** An ML-KEM-1024 prekey from a fresh 64-byte seed (all the device keeps of it), signed like the others. */
function newKemPrekey(identity: IdentityKeyPair) {
  const seed = randomBytes(64);
  const { publicKey } = kemKeyPair(seed);
  return {
    seed: b64(seed),
    publicKey: b64(publicKey),
    signature: b64(ed25519.sign(publicKey, identity.secretKey)),
  };
}

/**
 * Publishes the device's registration id, signed prekey and last-resort KEM prekey once, and
 * one-time EC and KEM prekeys whenever the server's count of either falls below PREKEY_LOW.
 * Secrets are stored before their public halves are uploaded, so a published key always has its
 * secret on the device; a one-time secret is deleted once a first message used it (sessions.ts).
 * Returns how many were added.
 */
export async function replenishPrekeys(api: Api, store: ClientStore, identity: IdentityKeyPair) {
  const record: PrekeyRecord = (await store.get<PrekeyRecord>(keys.prekeys)) ?? {
    registrationId: registrationId(),
    nextKeyId: 1,
    signed: null,
    oneTime: {},
  };
  record.kem ??= {};
  let added = 0;
  if (!record.kemLastResort) {
    const k = newKemPrekey(identity);
    record.kemLastResort = { keyId: record.nextKeyId++, seed: k.seed };
    await store.set(keys.prekeys, record);
    ok(
      "upload last-resort KEM prekey",
      await api.PUT("/api/v1/keys", {
        body: {
          kem_last_resort_prekey: {
            key_id: record.kemLastResort.keyId,
            public_key: k.publicKey,
            signature: k.signature,
          },
        },
      }),
    );
  }
  if (!record.signed) {
    const spk = newPrekey(identity);
    record.signed = { keyId: record.nextKeyId++, secretKey: b64(spk.secretKey) };
    await store.set(keys.prekeys, record);
    ok(
      "upload signed prekey",
      await api.PUT("/api/v1/keys", {
        body: {
          registration_id: record.registrationId,
          signed_prekey: {
            key_id: record.signed.keyId,
            public_key: b64(spk.publicKey),
            signature: b64(spk.signature),
          },
        },
      }),
    );
  }
  const counts = ok("count prekeys", await api.GET("/api/v1/keys/count"));
  let kemCount = counts.kem_prekeys;
  if (kemCount < PREKEY_LOW)
    while (kemCount < PREKEY_TARGET) {
      const batch = Array.from({ length: Math.min(KEM_PER_UPLOAD, PREKEY_TARGET - kemCount) }, () => {
        const k = newKemPrekey(identity);
        const keyId = record.nextKeyId++;
        record.kem![keyId] = k.seed;
        return { key_id: keyId, public_key: k.publicKey, signature: k.signature };
      });
      await store.set(keys.prekeys, record);
      kemCount = ok(
        "upload KEM prekeys",
        await api.PUT("/api/v1/keys", { body: { kem_prekeys: batch } }),
      ).kem_prekeys;
      added += batch.length;
    }
  let count = counts.one_time_prekeys;
  if (count >= PREKEY_LOW) return added;
  while (count < PREKEY_TARGET) {
    const batch = Array.from({ length: Math.min(PER_UPLOAD, PREKEY_TARGET - count) }, () => {
      const k = newPrekey(identity);
      const keyId = record.nextKeyId++;
      record.oneTime[keyId] = b64(k.secretKey);
      return { key_id: keyId, public_key: b64(k.publicKey) };
    });
    await store.set(keys.prekeys, record);
    count = ok(
      "upload prekeys",
      await api.PUT("/api/v1/keys", { body: { one_time_prekeys: batch } }),
    ).one_time_prekeys;
    added += batch.length;
  }
  return added;
}
