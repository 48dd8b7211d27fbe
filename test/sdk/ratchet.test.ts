import { ed25519, x25519 } from "@noble/curves/ed25519.js";
import { describe, expect, it } from "vitest";
import { b64, concat, unb64 } from "../../sdk/src/bytes.js";
import { newIdentity } from "../../sdk/src/crypto.js";
import { decodePart, encodePart, initiate, kemKeyPair, respond } from "../../sdk/src/pqxdh.js";
import {
  initInitiator,
  initResponder,
  MAX_SKIP,
  newKeyPair,
  RatchetError,
  type RatchetState,
  ratchetDecrypt,
  ratchetEncrypt,
  SKIPPED_TTL_MS,
} from "../../sdk/src/ratchet.js";

// Pure protocol logic, no server: PQXDH's two halves agree, and the ratchet's bookkeeping holds.

const key = (i: number) => new Uint8Array(32).fill(i);

function bundleFor(bob: ReturnType<typeof newIdentity>, o: { kem: boolean; oneTime: boolean }) {
  const spk = x25519.utils.randomSecretKey();
  const opk = x25519.utils.randomSecretKey();
  const seed = new Uint8Array(64).fill(7);
  const kem = kemKeyPair(seed);
  const spkPub = concat(new Uint8Array([5]), x25519.getPublicKey(spk));
  return {
    secrets: {
      signed: (id: number) => (id === 1 ? spk : null),
      oneTime: (id: number) => (id === 2 ? opk : null),
      kem: (id: number) => (id === 3 ? kemKeyPair(seed).secretKey : null),
    },
    spk,
    bundle: {
      identity_key: b64(bob.publicKey),
      signed_prekey: {
        key_id: 1,
        public_key: b64(spkPub),
        signature: b64(ed25519.sign(spkPub, bob.secretKey)),
      },
      one_time_prekey: o.oneTime
        ? { key_id: 2, public_key: b64(concat(new Uint8Array([5]), x25519.getPublicKey(opk))) }
        : null,
      kem_prekey: o.kem
        ? {
            key_id: 3,
            public_key: b64(kem.publicKey),
            signature: b64(ed25519.sign(kem.publicKey, bob.secretKey)),
          }
        : null,
    },
  };
}

/** Alice and Bob after PQXDH, each with a ratchet state, and the first message from Alice. */
function pair(o = { kem: true, oneTime: true }) {
  const alice = newIdentity();
  const bob = newIdentity();
  const b = bundleFor(bob, o);
  const started = initiate(alice, bob.publicKey, b.bundle);
  const part = decodePart(encodePart(started.part)).part;
  const agreed = respond(bob, alice.publicKey, part, b.secrets);
  return {
    started,
    agreed,
    a: initInitiator(started.sk, started.theirRatchetKey),
    b: initResponder(agreed.sk, newKeyPair(agreed.signedPrekey)),
    ad: started.ad,
  };
}

describe("PQXDH", () => {
  it("both halves derive the same secret with a KEM prekey, and the first message carries its ciphertext", () => {
    const p = pair();
    expect(b64(p.agreed.sk)).toBe(b64(p.started.sk));
    expect(b64(p.agreed.ad)).toBe(b64(p.ad));
    expect(p.started.part).toMatchObject({ spkId: 1, opkId: 2, kemId: 3 });
    expect(p.started.part.ct).toHaveLength(1568);
  });

  it("falls back to X3DH without a KEM prekey (no ciphertext), and works without a one-time prekey", () => {
    const p = pair({ kem: false, oneTime: false });
    expect(b64(p.agreed.sk)).toBe(b64(p.started.sk));
    expect(p.started.part).toMatchObject({ opkId: null, kemId: null });
    expect(p.started.part.ct).toHaveLength(0);
    // Not the same secret as PQXDH would give: the KEM term and the label both count.
    expect(b64(pair({ kem: true, oneTime: false }).started.sk)).not.toBe(b64(p.started.sk));
  });

  it("refuses a signed prekey or KEM prekey not signed by the trusted identity key", () => {
    const bob = newIdentity();
    const b = bundleFor(bob, { kem: true, oneTime: true });
    const alice = newIdentity();
    expect(() => initiate(alice, newIdentity().publicKey, b.bundle)).toThrow(/signed prekey's signature/);
    const forged = {
      ...b.bundle,
      kem_prekey: { ...b.bundle.kem_prekey!, signature: b.bundle.signed_prekey.signature },
    };
    expect(() => initiate(alice, bob.publicKey, forged)).toThrow(/KEM prekey's signature/);
  });

  it("a responder without the one-time prekey's secret (already used) cannot complete it", () => {
    const alice = newIdentity();
    const bob = newIdentity();
    const b = bundleFor(bob, { kem: true, oneTime: true });
    const started = initiate(alice, bob.publicKey, b.bundle);
    expect(() => respond(bob, alice.publicKey, started.part, { ...b.secrets, oneTime: () => null })).toThrow(
      /already used/,
    );
  });
});

describe("the Double Ratchet", () => {
  const send = (s: RatchetState, i: number, ad: Uint8Array) => ratchetEncrypt(s, key(i), ad);

  it("opens in order, a DH step per reply, and a used key is gone (the same message twice is a duplicate)", () => {
    let { a, b, ad } = pair();
    const first = send(a, 1, ad);
    a = first.state;
    const opened = ratchetDecrypt(b, first.message, ad, 0);
    expect(opened.plaintext).toEqual(key(1));
    b = opened.state;
    expect(() => ratchetDecrypt(b, first.message, ad, 0)).toThrow(RatchetError);
    const reply = send(b, 2, ad);
    const back = ratchetDecrypt(a, reply.message, ad, 0);
    expect(back.plaintext).toEqual(key(2));
    // Bob's reply came under a new ratchet key: Alice's next chain comes from a new DH output.
    expect(b64(reply.message.subarray(0, 32))).not.toBe(b64(first.message.subarray(0, 32)));
    expect(back.state.rk).not.toBe(a.rk);
  });

  it("opens out of order within the bound, keeps skipped keys only until used, and reports beyond it", () => {
    let { a, b, ad } = pair();
    const sent: Uint8Array[] = [];
    for (let i = 0; i < 5; i++) {
      const m = send(a, i, ad);
      a = m.state;
      sent.push(m.message);
    }
    for (const i of [3, 0, 4, 1, 2]) {
      const got = ratchetDecrypt(b, sent[i]!, ad, 0);
      expect(got.plaintext).toEqual(key(i));
      b = got.state;
    }
    expect(b.skipped).toEqual([]);
    for (const m of sent)
      expect(() => ratchetDecrypt(b, m, ad, 0)).toThrow(expect.objectContaining({ kind: "duplicate" }));

    // MAX_SKIP + 1 messages lost in a row: the next one is reported, and the state is untouched.
    for (let i = 0; i <= MAX_SKIP; i++) a = send(a, 0, ad).state;
    const far = send(a, 9, ad);
    expect(() => ratchetDecrypt(b, far.message, ad, 0)).toThrow(expect.objectContaining({ kind: "too_far" }));
    // Within the bound it opens (MAX_SKIP skipped keys kept).
    let c = pair();
    const lost: Uint8Array[] = [];
    for (let i = 0; i < MAX_SKIP; i++) {
      const m = send(c.a, i, c.ad);
      c = { ...c, a: m.state };
      lost.push(m.message);
    }
    const last = send(c.a, 5, c.ad);
    const got = ratchetDecrypt(c.b, last.message, c.ad, 0);
    expect(got.plaintext).toEqual(key(5));
    expect(got.state.skipped).toHaveLength(MAX_SKIP);
    // A skipped key expires: the late message is reported then, not opened.
    const late = lost[10]!;
    expect(ratchetDecrypt(got.state, late, c.ad, SKIPPED_TTL_MS - 1).plaintext).toEqual(key(10));
    expect(() => ratchetDecrypt(got.state, late, c.ad, SKIPPED_TTL_MS)).toThrow(RatchetError);
  });

  it("a tampered message does not open and consumes nothing", () => {
    let { a, b, ad } = pair();
    const m = send(a, 1, ad);
    a = m.state;
    const bad = m.message.slice();
    bad[bad.length - 1]! ^= 1;
    expect(() => ratchetDecrypt(b, bad, ad, 0)).toThrow(expect.objectContaining({ kind: "bad_message" }));
    expect(ratchetDecrypt(b, m.message, ad, 0).plaintext).toEqual(key(1));
    // Another pair's associated data (other identities) does not open it either.
    expect(() => ratchetDecrypt(b, m.message, unb64(b64(new Uint8Array(64))), 0)).toThrow(RatchetError);
  });
});
