/**
 * Test vectors for the SDK's wire formats (docs/client.md, "Test vectors"): every secret is fixed
 * (SHA-256 of a label), so another client can check its PQXDH, X3DH, Double Ratchet and
 * safety-number code against ours byte for byte. `npm run vectors` writes docs/client-vectors.json;
 * test/sdk/vectors.test.ts fails when the file and the code disagree.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ed25519, x25519 } from "@noble/curves/ed25519.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { b64, concat, hex, utf8 } from "../sdk/src/bytes.js";
import { safetyNumber } from "../sdk/src/crypto.js";
import { type Bundle, encodePart, initiate, kemKeyPair, wrappedBytes } from "../sdk/src/pqxdh.js";
import {
  initInitiator,
  initResponder,
  newKeyPair,
  ratchetDecrypt,
  ratchetEncrypt,
} from "../sdk/src/ratchet.js";

const fixed = (label: string, length = 32) => {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i += 32)
    out.set(sha256(utf8(`hush-vector ${label} ${i}`)).subarray(0, length - i), i);
  return out;
};
const identity = (label: string) => {
  const secretKey = fixed(label);
  return { secretKey, publicKey: ed25519.getPublicKey(secretKey) };
};
const ecPublic = (sk: Uint8Array) => concat(new Uint8Array([5]), x25519.getPublicKey(sk));

export function vectors() {
  const alice = identity("alice identity");
  const bob = identity("bob identity");
  const spk = fixed("bob signed prekey");
  const opk = fixed("bob one-time prekey");
  const kemSeed = fixed("bob kem prekey seed", 64);
  const kem = kemKeyPair(kemSeed);
  const ek = fixed("alice ephemeral");
  const kemRandomness = fixed("alice kem encapsulation");
  const aliceRatchet = fixed("alice ratchet 1");
  const bobRatchet = fixed("bob ratchet 1");
  const aliceRatchet2 = fixed("alice ratchet 2");
  const bundle: Bundle = {
    identity_key: b64(bob.publicKey),
    signed_prekey: {
      key_id: 1,
      public_key: b64(ecPublic(spk)),
      signature: b64(ed25519.sign(ecPublic(spk), bob.secretKey)),
    },
    one_time_prekey: { key_id: 2, public_key: b64(ecPublic(opk)) },
    kem_prekey: {
      key_id: 3,
      public_key: b64(kem.publicKey),
      signature: b64(ed25519.sign(kem.publicKey, bob.secretKey)),
    },
  };
  const pq = initiate(alice, bob.publicKey, bundle, { ek, kemSeed: kemRandomness });
  const x3dh = initiate(alice, bob.publicKey, { ...bundle, kem_prekey: null }, { ek });
  const part = encodePart(pq.part);

  // Alice sends two messages before hearing back (both carry the prekey part), Bob replies,
  // Alice answers in a new chain (a DH step with a fixed new key on each side).
  const contentKey = (i: number) => fixed(`content key ${i}`);
  let a = initInitiator(pq.sk, pq.theirRatchetKey, newKeyPair(aliceRatchet));
  const m1 = ratchetEncrypt(a, contentKey(1), pq.ad);
  a = m1.state;
  const m2 = ratchetEncrypt(a, contentKey(2), pq.ad);
  a = m2.state;
  let b = initResponder(pq.sk, newKeyPair(spk));
  b = ratchetDecrypt(b, m1.message, pq.ad, 0, () => newKeyPair(bobRatchet)).state;
  b = ratchetDecrypt(b, m2.message, pq.ad, 0).state;
  const r1 = ratchetEncrypt(b, contentKey(3), pq.ad);
  a = ratchetDecrypt(a, r1.message, pq.ad, 0, () => newKeyPair(aliceRatchet2)).state;
  const m3 = ratchetEncrypt(a, contentKey(4), pq.ad);

  const users: [{ userId: string; keys: string[] }, { userId: string; keys: string[] }] = [
    { userId: "64b7f0c2a1d3e4f5a6b7c8d9", keys: [b64(alice.publicKey)] },
    { userId: "64b7f0c2a1d3e4f5a6b7c8da", keys: [b64(bob.publicKey)] },
  ];
  return {
    about:
      "Fixed inputs (each secret is SHA-256 of a label) and what the SDK makes of them: docs/client.md, " +
      '"Wire formats". Byte strings are hex unless the key says base64 (standard alphabet, padded).',
    inputs: {
      alice_identity_secret_ed25519: hex(alice.secretKey),
      alice_identity_public_ed25519: hex(alice.publicKey),
      bob_identity_secret_ed25519: hex(bob.secretKey),
      bob_identity_public_ed25519: hex(bob.publicKey),
      bob_signed_prekey: { key_id: 1, secret_x25519: hex(spk), bundle: bundle.signed_prekey },
      bob_one_time_prekey: { key_id: 2, secret_x25519: hex(opk), bundle: bundle.one_time_prekey },
      bob_kem_prekey: {
        key_id: 3,
        ml_kem_1024_keygen_seed: hex(kemSeed),
        public_key_sha256: hex(sha256(kem.publicKey)),
        signature_base64: bundle.kem_prekey!.signature,
      },
      alice_ephemeral_secret_x25519: hex(ek),
      alice_ml_kem_encapsulation_randomness: hex(kemRandomness),
      ratchet_secrets_x25519: {
        alice_first: hex(aliceRatchet),
        bob_first_after_receiving: hex(bobRatchet),
        alice_second_after_receiving: hex(aliceRatchet2),
      },
      content_keys: [1, 2, 3, 4].map((i) => hex(contentKey(i))),
    },
    pqxdh: {
      kem_ciphertext_sha256: hex(sha256(pq.part.ct)),
      sk: hex(pq.sk),
      ad: hex(pq.ad),
      prekey_part_sha256: hex(sha256(part)),
    },
    x3dh: { sk: hex(x3dh.sk), prekey_part: hex(encodePart(x3dh.part)) },
    encrypted_keys_base64: {
      alice_1: b64(wrappedBytes(m1.message, part)),
      alice_2: b64(wrappedBytes(m2.message, part)),
      bob_reply: b64(wrappedBytes(r1.message, null)),
      alice_3: b64(wrappedBytes(m3.message, null)),
    },
    safety_number: {
      inputs: users,
      output: safetyNumber(users[0], users[1]),
    },
  };
}

if (process.argv[1]?.endsWith("sdk-vectors.ts")) {
  const file = join(import.meta.dirname, "../docs/client-vectors.json");
  writeFileSync(file, `${JSON.stringify(vectors(), null, 2)}\n`);
  console.log(`wrote ${file}`);
}
