/**
 * The platform-neutral pieces every X-Wing backend is assembled from: the X25519 and SHA3-256
 * interfaces with their pure-JS (@noble) implementations, the X-Wing combiner and its
 * constants. No `node:crypto` here (that is node-crypto.ts, loaded only by the gateway's
 * selection), so the browser client bundles this file.
 */
import { x25519 as nobleX25519Curve } from "@noble/curves/ed25519.js";
import { sha3_256 } from "@noble/hashes/sha3.js";
import type { Bytes } from "../protocol/bytes.ts";
import { XWING_SS_LEN } from "../protocol/constants.ts";
import { PqgateError } from "../protocol/errors.ts";

/** ML-KEM-768 ciphertext length: the first part of an X-Wing ciphertext. */
export const MLKEM768_CT_LEN = 1088;

/** The X-Wing combiner label `\.//^\` (6 bytes). */
export const XWING_LABEL: Bytes = Uint8Array.from([0x5c, 0x2e, 0x2f, 0x2f, 0x5e, 0x5c]);

/**
 * RFC 8410 PKCS#8 PrivateKeyInfo prefix for a raw 32-byte X25519 private key (node:crypto and
 * WebCrypto imports). DER on purpose: JWK export hung Node 20, and JWK import of a private key
 * costs ~185 µs in Deno 2.9 (it recomputes the public key) against ~12 µs for DER.
 */
// deno-fmt-ignore
export const PKCS8_X25519_PREFIX: Bytes = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20,
]);

/** X25519 (RFC 7748). `sharedSecret` throws when the output is all zero (low-order point). */
export interface X25519Ops {
  readonly name: string;
  /** X25519(sk, 9): the public key of a 32-byte secret (clamped as RFC 7748 says). */
  publicKey(secretKey: Uint8Array): Uint8Array;
  /** X25519(sk, pk); throws on an all-zero result. */
  sharedSecret(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array;
  /**
   * A reusable handle for a secret used many times (a gateway static key): `sharedSecret`
   * with a prepared handle skips re-importing the key. Optional.
   */
  prepareSecret?(secretKey: Uint8Array): X25519Secret;
  /**
   * Both halves of an X-Wing encapsulation's X25519 part for one ephemeral secret, importing it
   * once: X25519(sk, pk) (throws on an all-zero result, checked first) and X25519(sk, 9).
   * Optional; the same outputs as `sharedSecret` + `publicKey`.
   */
  ephemeral?(secretKey: Uint8Array, publicKey: Uint8Array): {
    sharedSecret: Uint8Array;
    publicKey: Uint8Array;
  };
}

/** A prepared X25519 secret (see `X25519Ops.prepareSecret`). */
export interface X25519Secret {
  sharedSecret(publicKey: Uint8Array): Uint8Array;
}

/** SHA3-256 over the concatenation of `parts` (the X-Wing combiner's hash). */
export type Sha3 = (...parts: Uint8Array[]) => Uint8Array;

export function allZero(b: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < b.length; i++) acc |= b[i];
  return acc === 0;
}

export const nobleX25519: X25519Ops = Object.freeze({
  name: "noble",
  publicKey: (sk: Uint8Array) => nobleX25519Curve.getPublicKey(sk),
  // noble throws on an all-zero result itself; the check is repeated for uniformity.
  sharedSecret(sk: Uint8Array, pk: Uint8Array): Uint8Array {
    const ss = nobleX25519Curve.getSharedSecret(sk, pk);
    if (allZero(ss)) throw new Error("x25519: low-order point");
    return ss;
  },
});

export const nobleSha3: Sha3 = (...parts: Uint8Array[]) => {
  const h = sha3_256.create();
  for (const p of parts) h.update(p);
  return h.digest();
};

/** The X-Wing combiner: SHA3-256(ss_M || ss_X || ct_X || pk_X || label). */
export function xwingCombine(
  sha3: Sha3,
  ssM: Uint8Array,
  ssX: Uint8Array,
  ctX: Uint8Array,
  pkX: Uint8Array,
): Bytes {
  const out = new Uint8Array(sha3(ssM, ssX, ctX, pkX, XWING_LABEL));
  if (out.length !== XWING_SS_LEN) {
    throw new PqgateError("internal_error", "combiner: unexpected output size");
  }
  return out;
}
