import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ed25519 } from "@noble/curves/ed25519.js";
import { hexToBytes } from "@noble/hashes/utils.js";
import { describe, expect, it } from "vitest";
import { vectors } from "../../scripts/sdk-vectors.js";
import { hex, unb64 } from "../../sdk/src/bytes.js";
import { decodePart, kemKeyPair, respond } from "../../sdk/src/pqxdh.js";
import { initResponder, newKeyPair, ratchetDecrypt } from "../../sdk/src/ratchet.js";

// docs/client-vectors.json is what another client checks itself against: it must stay true.
const file = JSON.parse(readFileSync(join(import.meta.dirname, "../../docs/client-vectors.json"), "utf8"));

describe("the SDK's test vectors", () => {
  it("docs/client-vectors.json is what the code makes of its inputs (npm run vectors rewrites it)", () => {
    expect(vectors()).toEqual(file);
  });

  it("Bob's side, from the published bytes alone, completes PQXDH and opens every message to the listed content key", () => {
    const i = file.inputs;
    const bob = {
      secretKey: hexToBytes(i.bob_identity_secret_ed25519),
      publicKey: hexToBytes(i.bob_identity_public_ed25519),
    };
    const alicePublic = hexToBytes(i.alice_identity_public_ed25519);
    const first = unb64(file.encrypted_keys_base64.alice_1);
    expect(first[0]).toBe(2);
    const { part, rest } = decodePart(first.subarray(1));
    expect(part).toMatchObject({ spkId: 1, opkId: 2, kemId: 3 });
    const agreed = respond(bob, alicePublic, part, {
      signed: () => hexToBytes(i.bob_signed_prekey.secret_x25519),
      oneTime: () => hexToBytes(i.bob_one_time_prekey.secret_x25519),
      kem: () => kemKeyPair(hexToBytes(i.bob_kem_prekey.ml_kem_1024_keygen_seed)).secretKey,
    });
    expect(hex(agreed.sk)).toBe(file.pqxdh.sk);
    expect(hex(agreed.ad)).toBe(file.pqxdh.ad);
    let b = initResponder(agreed.sk, newKeyPair(hexToBytes(i.bob_signed_prekey.secret_x25519)));
    const one = ratchetDecrypt(b, rest, agreed.ad, 0, () =>
      newKeyPair(hexToBytes(i.ratchet_secrets_x25519.bob_first_after_receiving)),
    );
    expect(hex(one.plaintext)).toBe(i.content_keys[0]);
    b = one.state;
    const second = decodePart(unb64(file.encrypted_keys_base64.alice_2).subarray(1)).rest;
    const two = ratchetDecrypt(b, second, agreed.ad, 0);
    expect(hex(two.plaintext)).toBe(i.content_keys[1]);
    const third = unb64(file.encrypted_keys_base64.alice_3);
    expect(third[0]).toBe(1);
    // Alice's third message is in the chain after Bob's reply: it opens once Bob has sent that reply.
    expect(hex(ratchetDecrypt(two.state, third.subarray(1), agreed.ad, 0).plaintext)).toBe(i.content_keys[3]);
    // The bundle's signatures verify against Bob's identity key, as a sender checks them.
    const spk = i.bob_signed_prekey.bundle;
    expect(ed25519.verify(unb64(spk.signature), unb64(spk.public_key), bob.publicKey)).toBe(true);
  });
});
