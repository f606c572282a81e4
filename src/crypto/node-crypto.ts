/**
 * The `node:crypto` backends (Node, Deno, workerd with nodejs_compat): X25519 and SHA3-256 here,
 * the AEADs in aead-node.ts. Only the gateway's selection (select.ts) loads this module, and
 * `node:crypto` itself only through `loadNodeCrypto()`'s dynamic import, so a runtime without
 * it (or with a partial one) falls back per piece. Nothing here is used before `selectBackends()`
 * has checked it byte for byte against noble.
 */
import {
  allZero,
  PKCS8_X25519_PREFIX,
  type Sha3,
  type X25519Ops,
  type X25519Secret,
} from "./primitives.ts";

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

// RFC 8410 SubjectPublicKeyInfo prefix for a raw X25519 public key (PKCS#8: primitives.ts).
// deno-fmt-ignore
const SPKI_X25519 = Uint8Array.from([
  0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x03, 0x21, 0x00,
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
    const der = withPrefix(PKCS8_X25519_PREFIX, sk);
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
