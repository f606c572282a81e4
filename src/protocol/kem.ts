/**
 * §2 X-Wing (draft-connolly-cfrg-xwing-kem) composed from noble's ML-KEM-768
 * (`@noble/post-quantum/ml-kem.js`), X25519 (`@noble/curves/ed25519.js`) and SHA3-256/SHAKE256
 * (`@noble/hashes/sha3.js`), exactly as the draft (and @noble/post-quantum 0.7.1's
 * `ml_kem768_x25519`, which this replaced) defines it:
 *   expanded = SHAKE256(seed, 96); (pk_M, dk_M) = ML-KEM.KeyGen(expanded[0:64]);
 *   sk_X = expanded[64:96]; pk_X = X25519(sk_X, 9); pk = pk_M || pk_X; sk = seed
 *   Encaps(pk, eseed): (ct_M, ss_M) = ML-KEM.Encaps(pk_M, eseed[0:32]); ek_X = eseed[32:64];
 *     ct_X = X25519(ek_X, 9); ss_X = X25519(ek_X, pk_X)
 *   Decaps(ct, seed): ss_M = ML-KEM.Decaps(dk_M, ct_M); ss_X = X25519(sk_X, ct_X)
 *   ss = SHA3-256(ss_M || ss_X || ct_X || pk_X || "\.//^\")
 * Only the composition is here (no primitive); tests/vectors/xwing-draft.json and the
 * comparisons in kem.test.ts prove it byte-identical. Why composed: the hybrid module also
 * pulls in noble's NIST curves, a large share of the browser bundle and of a cold isolate's
 * parse/compile time (docs/benchmarks.md).
 *
 * Input rules (every failure is a PqgateError; noble's own exceptions never escape):
 * - Peer-supplied inputs (`publicKey` to encapsulate, `cipherText` to decapsulate) that are
 *   malformed throw `handshake_failed`, with the argument name in the message and nothing else:
 *   wrong length, an ML-KEM part that fails the FIPS 203 §7.2 modulus check, or an X25519 part
 *   that makes the Diffie-Hellman output all-zero (a low-order point, e.g. u = 0 or u = 1).
 * - Locally supplied inputs (`seed`, `eseed`, `secretKey`) of the wrong length throw
 *   `internal_error`: they are programming errors, not peer behaviour.
 *
 * Low-order X25519 points: the X-Wing draft does not ask implementations to reject an all-zero
 * X25519 shared secret (its combiner hashes ct_X and pk_X, so the output stays bound to the
 * transcript). noble rejects it anyway (`getSharedSecret` throws when the result is zero), both
 * when encapsulating to a public key whose pk_X is low-order and when decapsulating a
 * ciphertext whose ct_X is low-order. Only a malicious or broken peer produces such values, so
 * pqgate keeps noble's behaviour and maps it to `handshake_failed`. This is the one place where
 * `decapsulate` can throw on a well-sized ciphertext (see `HybridKem` in types.ts).
 *
 * The modulus check is done here explicitly (`xwingPublicKeyValid`) before calling noble, so
 * the rule holds even if a future noble release stopped checking, and any other backend can
 * reuse the same function.
 */
import { ml_kem768 } from "@noble/post-quantum/ml-kem.js";
import { x25519 } from "@noble/curves/ed25519.js";
import { sha3_256, shake256 } from "@noble/hashes/sha3.js";
import { PqgateError } from "./errors.ts";
import type { Bytes } from "./bytes.ts";
import type { HybridKem } from "./types.ts";
import {
  XWING_CT_LEN,
  XWING_ESEED_LEN,
  XWING_PK_LEN,
  XWING_SEED_LEN,
  XWING_SS_LEN,
} from "./constants.ts";

/** §2 ML-KEM-768 encapsulation key: 3 polynomials × 384 bytes of 12-bit coefficients + rho. */
export const MLKEM768_PK_LEN = 1184;
const MLKEM768_T_LEN = 1152; // ByteEncode12 of 3 × 256 coefficients
const MLKEM_Q = 3329;

/** Bytes with a plain ArrayBuffer (noble returns Uint8Array<ArrayBufferLike>). */
function own(b: Uint8Array): Bytes {
  return new Uint8Array(b);
}

/** Length check of a KEM input; `code` says whether a bad length is the peer's or ours. */
export function checkLen(
  value: unknown,
  len: number,
  name: string,
  code: "handshake_failed" | "internal_error",
): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array) || value.length !== len) {
    throw new PqgateError(code, `${name}: expected ${len} bytes`);
  }
}

/**
 * FIPS 203 §7.2 encapsulation-key modulus check on the ML-KEM part of an X-Wing public key:
 * every 12-bit coefficient of the first 1152 bytes must be < q = 3329. Equivalent to
 * `ByteEncode12(ByteDecode12(ek)) == ek`. Runs in time independent of the key's contents.
 */
export function mlkemModulusCheck(pkM: Uint8Array): boolean {
  if (pkM.length < MLKEM768_T_LEN) return false;
  let bad = 0;
  for (let i = 0; i < MLKEM768_T_LEN; i += 3) {
    const b0 = pkM[i], b1 = pkM[i + 1], b2 = pkM[i + 2];
    const c0 = b0 | ((b1 & 0x0f) << 8);
    const c1 = (b1 >>> 4) | (b2 << 4);
    // (c - q) >>> 31 is 1 when c < q: accumulate "not below q" without branching.
    bad |= 1 ^ ((c0 - MLKEM_Q) >>> 31);
    bad |= 1 ^ ((c1 - MLKEM_Q) >>> 31);
  }
  return bad === 0;
}

/** A structurally valid X-Wing public key: 1216 bytes and an ML-KEM part that passes §7.2. */
export function xwingPublicKeyValid(publicKey: Uint8Array): boolean {
  return publicKey.length === XWING_PK_LEN &&
    mlkemModulusCheck(publicKey.subarray(0, MLKEM768_PK_LEN));
}

/** The X-Wing combiner label "\.//^\" (draft §5). */
const XWING_LABEL = Uint8Array.from([0x5c, 0x2e, 0x2f, 0x2f, 0x5e, 0x5c]);
const MLKEM768_CT_LEN = 1088;

/** SHA3-256(ss_M || ss_X || ct_X || pk_X || label). */
function combine(ssM: Uint8Array, ssX: Uint8Array, ctX: Uint8Array, pkX: Uint8Array): Bytes {
  return own(
    sha3_256.create().update(ssM).update(ssX).update(ctX).update(pkX).update(XWING_LABEL)
      .digest(),
  );
}

/** The expanded secret key: ML-KEM-768 (dk, pk) from expanded[0:64], sk_X, pk_X. */
function expandSeed(seed: Uint8Array): {
  dkM: Uint8Array;
  pkM: Uint8Array;
  skX: Uint8Array;
  pkX: Uint8Array;
} {
  const ex = shake256(seed, { dkLen: 96 });
  try {
    const kp = ml_kem768.keygen(ex.subarray(0, 64));
    const skX = ex.slice(64, 96);
    return { dkM: kp.secretKey, pkM: kp.publicKey, skX, pkX: x25519.getPublicKey(skX) };
  } finally {
    ex.fill(0);
  }
}

/** X-Wing from noble's primitives (pure JS; the fallback backend on every runtime). */
export const xwingNoble: HybridKem = Object.freeze({
  name: "X-Wing (noble)",

  keygen(seed: Uint8Array): { publicKey: Bytes; secretKey: Bytes } {
    checkLen(seed, XWING_SEED_LEN, "seed", "internal_error");
    let e: ReturnType<typeof expandSeed>;
    try {
      e = expandSeed(seed);
    } catch {
      // A 32-byte seed always yields a key; anything else is a library fault.
      throw new PqgateError("internal_error", "keygen failed");
    }
    const publicKey = new Uint8Array(XWING_PK_LEN);
    publicKey.set(e.pkM);
    publicKey.set(e.pkX, MLKEM768_PK_LEN);
    e.dkM.fill(0);
    e.skX.fill(0);
    return { publicKey, secretKey: new Uint8Array(seed) };
  },

  encapsulate(
    publicKey: Uint8Array,
    eseed: Uint8Array,
  ): { cipherText: Bytes; sharedSecret: Bytes } {
    checkLen(eseed, XWING_ESEED_LEN, "eseed", "internal_error");
    checkLen(publicKey, XWING_PK_LEN, "publicKey", "handshake_failed");
    if (!xwingPublicKeyValid(publicKey)) {
      throw new PqgateError("handshake_failed", "publicKey: invalid");
    }
    let ctM: Uint8Array, ssM: Uint8Array | null = null, ssX: Uint8Array | null = null;
    let ctX: Uint8Array;
    const pkX = publicKey.subarray(MLKEM768_PK_LEN);
    try {
      const r = ml_kem768.encapsulate(
        publicKey.subarray(0, MLKEM768_PK_LEN),
        eseed.subarray(0, 32),
      );
      ctM = r.cipherText;
      ssM = r.sharedSecret;
      const ekX = eseed.subarray(32, 64);
      ctX = x25519.getPublicKey(ekX);
      ssX = x25519.getSharedSecret(ekX, pkX); // throws on an all-zero (low-order) result
    } catch {
      ssM?.fill(0);
      // Low-order X25519 part (all-zero DH output) or a modulus failure noble caught first.
      throw new PqgateError("handshake_failed", "publicKey: invalid");
    }
    const sharedSecret = combine(ssM, ssX, ctX, pkX);
    ssM.fill(0);
    ssX.fill(0);
    const cipherText = new Uint8Array(XWING_CT_LEN);
    cipherText.set(ctM);
    cipherText.set(ctX, MLKEM768_CT_LEN);
    if (ctM.length !== MLKEM768_CT_LEN || sharedSecret.length !== XWING_SS_LEN) {
      throw new PqgateError("internal_error", "encapsulate: unexpected output size");
    }
    return { cipherText, sharedSecret };
  },

  decapsulate(cipherText: Uint8Array, secretKey: Uint8Array): Bytes {
    checkLen(secretKey, XWING_SEED_LEN, "secretKey", "internal_error");
    checkLen(cipherText, XWING_CT_LEN, "cipherText", "handshake_failed");
    let e: ReturnType<typeof expandSeed>;
    try {
      e = expandSeed(secretKey);
    } catch {
      throw new PqgateError("internal_error", "decapsulate: key expansion failed");
    }
    let ssM: Uint8Array | null = null, ssX: Uint8Array | null = null;
    const ctX = cipherText.subarray(MLKEM768_CT_LEN);
    try {
      ssM = ml_kem768.decapsulate(cipherText.subarray(0, MLKEM768_CT_LEN), e.dkM);
      ssX = x25519.getSharedSecret(e.skX, ctX);
    } catch {
      // ML-KEM never fails (implicit rejection); only a low-order ct_X reaches here.
      ssM?.fill(0);
      e.dkM.fill(0);
      e.skX.fill(0);
      throw new PqgateError("handshake_failed", "cipherText: invalid");
    }
    const out = combine(ssM, ssX, ctX, e.pkX);
    ssM.fill(0);
    ssX.fill(0);
    e.dkM.fill(0);
    e.skX.fill(0);
    if (out.length !== XWING_SS_LEN) {
      throw new PqgateError("internal_error", "decapsulate: unexpected output size");
    }
    return out;
  },
});
