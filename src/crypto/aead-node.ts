/**
 * The suites' AEADs (PROTOCOL.md §2, §5.1) through node:crypto `createCipheriv` /
 * `createDecipheriv`: synchronous, and on most runtimes far faster than noble. Same contract as
 * src/protocol/aead.ts: `open` returns null on any authentication failure and never throws for
 * peer-controlled input; a wrong key or nonce LENGTH is a caller bug and throws TypeError.
 *
 * Whether it is used is decided per suite and per runtime by `selectBackends` (it is proven
 * byte-identical to noble, then timed: Deno 2.9's node:crypto AES-GCM is slower than its
 * ChaCha20-Poly1305; docs/benchmarks.md has the figures).
 */
import type { Aead } from "../protocol/types.ts";
import type { NodeCrypto } from "./node-crypto.ts";

const KEY_LEN = 32;
const IV_LEN = 12;
const TAG_LEN = 16;

export type NodeAeadAlgorithm = "aes-256-gcm" | "chacha20-poly1305";

function checkKeyNonce(name: string, key: Uint8Array, nonce: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== KEY_LEN) {
    throw new TypeError(`${name}: key must be ${KEY_LEN} bytes`);
  }
  if (!(nonce instanceof Uint8Array) || nonce.length !== IV_LEN) {
    throw new TypeError(`${name}: nonce must be ${IV_LEN} bytes`);
  }
}

export function nodeAead(nc: NodeCrypto, alg: NodeAeadAlgorithm): Aead {
  const name = (alg === "aes-256-gcm" ? "AES-256-GCM" : "ChaCha20-Poly1305") + " (node:crypto)";
  const opts = { authTagLength: TAG_LEN };
  return Object.freeze({
    name,
    seal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
      checkKeyNonce(name, key, nonce);
      const c = nc.createCipheriv(alg, key, nonce, opts);
      c.setAAD(aad, { plaintextLength: plaintext.length });
      const body = c.update(plaintext);
      const fin = c.final();
      const tag = c.getAuthTag();
      const out = new Uint8Array(body.length + fin.length + TAG_LEN);
      out.set(body);
      out.set(fin, body.length);
      out.set(tag, body.length + fin.length);
      return out;
    },
    open(
      key: Uint8Array,
      nonce: Uint8Array,
      aad: Uint8Array,
      ciphertext: Uint8Array,
    ): Uint8Array | null {
      checkKeyNonce(name, key, nonce);
      if (!(ciphertext instanceof Uint8Array) || ciphertext.length < TAG_LEN) return null;
      try {
        const n = ciphertext.length - TAG_LEN;
        const d = nc.createDecipheriv(alg, key, nonce, opts);
        d.setAuthTag(ciphertext.subarray(n));
        d.setAAD(aad, { plaintextLength: n });
        const body = d.update(ciphertext.subarray(0, n));
        const fin = d.final(); // throws on a bad tag
        // Always a copy with its own ArrayBuffer (node may hand out views of a shared pool).
        if (fin.length === 0) return new Uint8Array(body);
        const out = new Uint8Array(body.length + fin.length);
        out.set(body);
        out.set(fin, body.length);
        return out;
      } catch {
        return null; // tag mismatch: opaque by design
      }
    },
  });
}
