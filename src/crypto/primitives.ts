/**
 * Small synchronous primitives the fast X-Wing and AEAD backends are assembled from, each with
 * a pure-JS (@noble) implementation and, where the runtime has one, a native one from
 * `node:crypto` (Node, Deno, workerd with nodejs_compat). `node:crypto` is never imported
 * statically: `loadNodeCrypto()` imports it on demand so this folder also loads in a browser.
 *
 * Nothing here is used before `selectBackends()` (select.ts) has checked it byte for byte
 * against noble; see that file for the self-tests.
 */
import { x25519 as nobleX25519Curve } from "@noble/curves/ed25519.js";
import { sha3_256 } from "@noble/hashes/sha3.js";
import { PKCS8_X25519_PREFIX } from "./webcrypto-shared.ts";

/** The subset of `node:crypto` used here (typed loosely: runtimes differ in detail). */
// deno-lint-ignore no-explicit-any
export type NodeCrypto = any;

/** `node:crypto`, or null where it cannot be imported. */
export async function loadNodeCrypto(): Promise<NodeCrypto | null> {
  try {
    const spec = "node:crypto"; // a variable keeps bundlers from resolving it at build time
    const m = await import(spec);
    return m.default ?? m;
  } catch {
    return null;
  }
}

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

function allZero(b: Uint8Array): boolean {
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

// DER wrappers for raw X25519 keys (RFC 8410): PKCS#8 PrivateKeyInfo (webcrypto-shared.ts, with why
// DER and not JWK) and SubjectPublicKeyInfo.
const PKCS8_X25519 = PKCS8_X25519_PREFIX;
const SPKI_X25519 = Uint8Array.from([
  0x30,
  0x2a,
  0x30,
  0x05,
  0x06,
  0x03,
  0x2b,
  0x65,
  0x6e,
  0x03,
  0x21,
  0x00,
]);

function withPrefix(prefix: Uint8Array, raw: Uint8Array): Uint8Array {
  const out = new Uint8Array(prefix.length + raw.length);
  out.set(prefix);
  out.set(raw, prefix.length);
  return out;
}

/** X25519 through node:crypto KeyObjects (sync). Throws if the runtime lacks it. */
export function nodeX25519(nc: NodeCrypto): X25519Ops {
  const priv = (sk: Uint8Array) => {
    if (sk.length !== 32) throw new TypeError("x25519: secret key must be 32 bytes");
    const der = withPrefix(PKCS8_X25519, sk);
    try {
      return nc.createPrivateKey({ key: der, format: "der", type: "pkcs8" });
    } finally {
      der.fill(0);
    }
  };
  const pub = (pk: Uint8Array) => {
    if (pk.length !== 32) throw new TypeError("x25519: public key must be 32 bytes");
    return nc.createPublicKey({ key: withPrefix(SPKI_X25519, pk), format: "der", type: "spki" });
  };
  const dh = (privateKey: unknown, publicKey: unknown): Uint8Array => {
    // OpenSSL refuses an all-zero result ("failed during derivation"); checked again here.
    const ss = new Uint8Array(nc.diffieHellman({ privateKey, publicKey }));
    if (ss.length !== 32 || allZero(ss)) throw new Error("x25519: low-order point");
    return ss;
  };
  const publicOf = (privateKey: unknown): Uint8Array => {
    const spki = new Uint8Array(
      nc.createPublicKey(privateKey).export({ format: "der", type: "spki" }),
    );
    if (spki.length !== 44) throw new Error("x25519: unexpected SPKI");
    return spki.slice(12);
  };
  return Object.freeze({
    name: "node:crypto",
    publicKey: (sk: Uint8Array) => publicOf(priv(sk)),
    sharedSecret: (sk: Uint8Array, pk: Uint8Array) => dh(priv(sk), pub(pk)),
    prepareSecret(sk: Uint8Array): X25519Secret {
      const k = priv(sk);
      return { sharedSecret: (pk: Uint8Array) => dh(k, pub(pk)) };
    },
    // One PKCS#8 import instead of two: ~25 µs less per encapsulation in workerd (its import
    // costs ~37 µs), ~3 µs in Deno (bench/worker-step.ts, paired runs).
    ephemeral(sk: Uint8Array, pk: Uint8Array) {
      const k = priv(sk);
      const sharedSecret = dh(k, pub(pk));
      return { sharedSecret, publicKey: publicOf(k) };
    },
  });
}

/** SHA3-256 through node:crypto. */
export function nodeSha3(nc: NodeCrypto): Sha3 {
  return (...parts: Uint8Array[]) => {
    const h = nc.createHash("sha3-256");
    for (const p of parts) h.update(p);
    return new Uint8Array(h.digest());
  };
}

/**
 * Synchronous SHA-256 / HMAC-SHA256 / HKDF-SHA256 (RFC 5869) through node:crypto. Not wired
 * into the protocol core yet (its key schedule imports noble directly; see
 * src/crypto/README.md for the proposed hook); exported for the benchmark and that hook.
 */
export interface HashOps {
  readonly name: string;
  sha256(...parts: Uint8Array[]): Uint8Array;
  hmacSha256(key: Uint8Array, msg: Uint8Array): Uint8Array;
  hkdfExtract(salt: Uint8Array, ikm: Uint8Array): Uint8Array;
  hkdfExpand(prk: Uint8Array, info: Uint8Array, length: number): Uint8Array;
}

export function nodeHashes(nc: NodeCrypto): HashOps {
  const hmac = (key: Uint8Array, msg: Uint8Array) =>
    new Uint8Array(nc.createHmac("sha256", key).update(msg).digest());
  return Object.freeze({
    name: "node:crypto",
    sha256(...parts: Uint8Array[]): Uint8Array {
      const h = nc.createHash("sha256");
      for (const p of parts) h.update(p);
      return new Uint8Array(h.digest());
    },
    hmacSha256: hmac,
    hkdfExtract: (salt: Uint8Array, ikm: Uint8Array) =>
      hmac(salt.length ? salt : new Uint8Array(32), ikm),
    hkdfExpand(prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
      // RFC 5869 §2.3 by hand (node's hkdfSync always extracts first).
      const out = new Uint8Array(length);
      let t = new Uint8Array(0);
      for (let i = 1, o = 0; o < length; i++) {
        const block = new Uint8Array(t.length + info.length + 1);
        block.set(t);
        block.set(info, t.length);
        block[block.length - 1] = i;
        t = hmac(prk, block);
        out.set(t.subarray(0, Math.min(32, length - o)), o);
        o += 32;
      }
      return out;
    },
  });
}
