import assert from "node:assert/strict";
import { ml_kem768_x25519 } from "@noble/post-quantum/hybrid.js";
import { ml_kem768 } from "@noble/post-quantum/ml-kem.js";
import { x25519 } from "@noble/curves/ed25519.js";
import { sha3_256, shake256 } from "@noble/hashes/sha3.js";
import { ascii, concat, fromHex, toHex } from "./bytes.ts";
import { PqgateError } from "./errors.ts";
import { mlkemModulusCheck, xwingNoble, xwingPublicKeyValid } from "./kem.ts";
import { seededRandom } from "./testing.ts";

interface Vector {
  seed: string;
  pk: string;
  eseed: string;
  ct: string;
  ss: string;
}
const file = JSON.parse(
  Deno.readTextFileSync(new URL("../../tests/vectors/xwing-draft.json", import.meta.url)),
) as { source: string; vectors: Vector[] };

function assertPq(fn: () => unknown, code: string, mentions?: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof PqgateError, `expected PqgateError, got ${e}`);
    assert.equal(e.code, code);
    if (mentions) {
      assert.ok(e.message.includes(mentions), `message "${e.message}" should name ${mentions}`);
    }
    return true;
  });
}

Deno.test("X-Wing KAT: draft-connolly-cfrg-xwing-kem-08 Appendix C vectors", () => {
  assert.equal(file.vectors.length, 3);
  for (const v of file.vectors) {
    const kp = xwingNoble.keygen(fromHex(v.seed));
    assert.equal(toHex(kp.publicKey), v.pk, "keygen(seed) = pk");
    assert.equal(toHex(kp.secretKey), v.seed, "the X-Wing secret key is the seed");
    const enc = xwingNoble.encapsulate(fromHex(v.pk), fromHex(v.eseed));
    assert.equal(toHex(enc.cipherText), v.ct, "encapsulate(pk, eseed).ct");
    assert.equal(toHex(enc.sharedSecret), v.ss, "encapsulate(pk, eseed).ss");
    assert.equal(
      toHex(xwingNoble.decapsulate(fromHex(v.ct), fromHex(v.seed))),
      v.ss,
      "decapsulate",
    );
  }
});

/**
 * Independent composition of X-Wing from its parts, per the draft's formulas (weaker than the
 * KATs above, but it checks the wrapper against ML-KEM-768 + X25519 + SHA3-256 directly):
 *   expanded = SHAKE256(seed, 96); (pk_M, sk_M) = ML-KEM-768.KeyGen(expanded[0:64]);
 *   sk_X = expanded[64:96]; pk_X = X25519(sk_X, 9)
 *   ss = SHA3-256(ss_M || ss_X || ct_X || pk_X || "\.//^\")
 */
Deno.test("X-Wing matches an independent composition (ML-KEM-768 + X25519 + SHA3-256)", () => {
  const rnd = seededRandom("kem composition");
  const label = ascii("\\.//^\\");
  assert.equal(label.length, 6);
  for (let i = 0; i < 4; i++) {
    const seed = rnd(32), eseed = rnd(64);
    const expanded = shake256(seed, { dkLen: 96 });
    const m = ml_kem768.keygen(expanded.subarray(0, 64));
    const skX = expanded.subarray(64, 96);
    const pkX = x25519.getPublicKey(skX);
    const pk = concat(m.publicKey, pkX);
    assert.equal(toHex(xwingNoble.keygen(seed).publicKey), toHex(pk));
    const em = ml_kem768.encapsulate(m.publicKey, eseed.subarray(0, 32));
    const ekX = eseed.subarray(32, 64);
    const ctX = x25519.getPublicKey(ekX);
    const ssX = x25519.getSharedSecret(ekX, pkX);
    const ss = sha3_256(concat(em.sharedSecret, ssX, ctX, pkX, label));
    const enc = xwingNoble.encapsulate(pk, eseed);
    assert.equal(toHex(enc.cipherText), toHex(concat(em.cipherText, ctX)));
    assert.equal(toHex(enc.sharedSecret), toHex(ss));
    assert.equal(toHex(xwingNoble.decapsulate(enc.cipherText, seed)), toHex(ss));
  }
});

Deno.test("X-Wing: FIPS 203 modulus check rejects a pk whose first coefficient is >= 3329", () => {
  const v = file.vectors[0];
  const pk = fromHex(v.pk);
  assert.ok(mlkemModulusCheck(pk.subarray(0, 1184)));
  assert.ok(xwingPublicKeyValid(pk));
  for (const c0 of [3329, 4095]) {
    const bad = new Uint8Array(pk);
    bad[0] = c0 & 0xff;
    bad[1] = (bad[1] & 0xf0) | (c0 >>> 8);
    assert.equal(bad[0] | ((bad[1] & 0x0f) << 8), c0);
    assert.equal(mlkemModulusCheck(bad.subarray(0, 1184)), false);
    assert.equal(xwingPublicKeyValid(bad), false);
    // noble itself performs the check (the wrapper checks first as well):
    assert.throws(() => ml_kem768_x25519.encapsulate(bad, fromHex(v.eseed)), /modulus/);
    assertPq(() => xwingNoble.encapsulate(bad, fromHex(v.eseed)), "handshake_failed", "publicKey");
  }
  // A coefficient in the odd position (c1 of the last triple) too.
  const bad = new Uint8Array(pk);
  bad[1151] = 0xff;
  bad[1150] |= 0xf0;
  assert.equal(mlkemModulusCheck(bad.subarray(0, 1184)), false);
  assertPq(() => xwingNoble.encapsulate(bad, fromHex(v.eseed)), "handshake_failed", "publicKey");
  // 3328 (q - 1) is fine.
  const ok = new Uint8Array(pk);
  ok[0] = 3328 & 0xff;
  ok[1] = (ok[1] & 0xf0) | (3328 >>> 8);
  assert.ok(mlkemModulusCheck(ok.subarray(0, 1184)));
});

Deno.test("X-Wing: low-order X25519 parts are rejected with handshake_failed (documented)", () => {
  const v = file.vectors[1];
  const lowOrder = [new Uint8Array(32), fromHex("01" + "00".repeat(31))];
  for (const u of lowOrder) {
    // Public key whose X25519 part is low order: the DH output is all-zero; noble throws.
    const pk = fromHex(v.pk);
    pk.set(u, 1184);
    assertPq(() => xwingNoble.encapsulate(pk, fromHex(v.eseed)), "handshake_failed", "publicKey");
    // Ciphertext whose X25519 part is low order: decapsulation throws (noble), mapped.
    const ct = fromHex(v.ct);
    ct.set(u, 1088);
    assertPq(() => xwingNoble.decapsulate(ct, fromHex(v.seed)), "handshake_failed", "cipherText");
  }
});

Deno.test("X-Wing: ML-KEM implicit rejection: a tampered ct_M decapsulates to another secret", () => {
  const v = file.vectors[2];
  const ct = fromHex(v.ct);
  ct[10] ^= 1;
  const ss = xwingNoble.decapsulate(ct, fromHex(v.seed));
  assert.equal(ss.length, 32);
  assert.notEqual(toHex(ss), v.ss);
});

Deno.test("X-Wing: input lengths are validated with the argument name", () => {
  const v = file.vectors[0];
  assertPq(() => xwingNoble.keygen(new Uint8Array(31)), "internal_error", "seed");
  assertPq(
    () => xwingNoble.encapsulate(fromHex(v.pk), new Uint8Array(63)),
    "internal_error",
    "eseed",
  );
  assertPq(
    () => xwingNoble.encapsulate(new Uint8Array(1215), fromHex(v.eseed)),
    "handshake_failed",
    "publicKey",
  );
  assertPq(
    () => xwingNoble.encapsulate(new Uint8Array(1217), fromHex(v.eseed)),
    "handshake_failed",
    "publicKey",
  );
  assertPq(
    () => xwingNoble.decapsulate(new Uint8Array(1119), fromHex(v.seed)),
    "handshake_failed",
    "cipherText",
  );
  assertPq(
    () => xwingNoble.decapsulate(fromHex(v.ct), new Uint8Array(33)),
    "internal_error",
    "secretKey",
  );
  // Non-Uint8Array input is also a PqgateError, never a TypeError from noble.
  assertPq(
    () => xwingNoble.encapsulate("x" as unknown as Uint8Array, fromHex(v.eseed)),
    "handshake_failed",
  );
});

Deno.test("X-Wing: outputs are plain ArrayBuffer-backed copies", () => {
  const v = file.vectors[0];
  const kp = xwingNoble.keygen(fromHex(v.seed));
  assert.ok(kp.publicKey.buffer instanceof ArrayBuffer);
  const enc = xwingNoble.encapsulate(kp.publicKey, fromHex(v.eseed));
  assert.equal(enc.cipherText.byteOffset, 0);
  assert.equal(enc.sharedSecret.buffer.byteLength, 32);
});
