/**
 * A synchronous, deterministic X-Wing (draft-connolly-cfrg-xwing-kem, PROTOCOL.md §2) that
 * implements the core's `HybridKem` exactly like `xwingNoble` (same outputs, same errors) but
 * assembled from swappable parts:
 *
 * - ML-KEM-768: @noble/post-quantum `ml_kem768` (deterministic from the eseed, like noble's
 *   X-Wing); the async native WebCrypto ML-KEM is layered on top in xwing-webcrypto.ts;
 * - X25519 and the SHA3-256 combiner: native `node:crypto` where `selectBackends` proved it
 *   equal to noble, else noble;
 * - a cache of the expanded decapsulation key (ML-KEM dk, X25519 pk and a prepared X25519
 *   handle) for the gateway's static keys, registered with `addStaticKeys`. noble's X-Wing
 *   re-expands the 32-byte seed (one ML-KEM keygen + one X25519 base multiplication) on every
 *   decapsulation; only explicitly registered keys are cached, so a client's ephemeral key is
 *   never kept beyond its use.
 *
 * X-Wing, as in the draft and @noble/post-quantum 0.7.1 `ml_kem768_x25519`:
 *   expanded = SHAKE256(seed, 96); (pk_M, dk_M) = ML-KEM.KeyGen(expanded[0:64]);
 *   sk_X = expanded[64:96]; pk_X = X25519(sk_X, 9); pk = pk_M || pk_X
 *   Encaps(pk, eseed): (ct_M, ss_M) = ML-KEM.Encaps(pk_M, eseed[0:32]); ek_X = eseed[32:64];
 *     ct_X = X25519(ek_X, 9); ss_X = X25519(ek_X, pk_X)
 *   Decaps(ct, seed): ss_M = ML-KEM.Decaps(dk_M, ct_M); ss_X = X25519(sk_X, ct_X)
 *   ss = SHA3-256(ss_M || ss_X || ct_X || pk_X || "\.//^\")
 */
import { ml_kem768 } from "@noble/post-quantum/ml-kem.js";
import { shake256 } from "@noble/hashes/sha3.js";
import { type Bytes, ctEqual } from "../protocol/bytes.ts";
import { PqgateError } from "../protocol/errors.ts";
import { checkLen, MLKEM768_PK_LEN, xwingPublicKeyValid } from "../protocol/kem.ts";
import type { HybridKem, StaticKey } from "../protocol/types.ts";
import {
  XWING_CT_LEN,
  XWING_ESEED_LEN,
  XWING_PK_LEN,
  XWING_SEED_LEN,
  XWING_SS_LEN,
} from "../protocol/constants.ts";
import {
  MLKEM768_CT_LEN,
  nobleSha3,
  nobleX25519,
  type Sha3,
  type X25519Ops,
  type X25519Secret,
  xwingCombine,
} from "./primitives.ts";

/** The expanded form of an X-Wing secret key. */
export interface ExpandedKey {
  seed: Bytes; // own copy, compared on every cache hit
  dkM: Uint8Array; // ML-KEM-768 decapsulation key (2400 bytes)
  pkM: Uint8Array; // 1184
  skX: Uint8Array; // 32
  pkX: Uint8Array; // 32
  x: X25519Secret | null; // prepared X25519 handle for skX (native backends)
}

export interface XWingParts {
  x25519?: X25519Ops;
  sha3?: Sha3;
}

/** Synchronous X-Wing with a static-key cache (see the file comment). */
export class CachedXWing implements HybridKem {
  readonly name: string;
  readonly x25519: X25519Ops;
  readonly sha3: Sha3;
  /** Registered static keys, looked up by object identity first, then by content. */
  readonly #byObject = new WeakMap<Uint8Array, ExpandedKey>();
  readonly #entries: ExpandedKey[] = [];

  constructor(parts: XWingParts = {}) {
    this.x25519 = parts.x25519 ?? nobleX25519;
    this.sha3 = parts.sha3 ?? nobleSha3;
    const sha3Name = parts.sha3 && parts.sha3 !== nobleSha3 ? "native" : "noble";
    this.name = `X-Wing (ML-KEM noble, X25519 ${this.x25519.name}, SHA3 ${sha3Name}, cached dk)`;
  }

  /** Expands a seed (SHAKE256 → ML-KEM keygen + X25519 public key). Caller owns the result. */
  #expand(seed: Uint8Array): ExpandedKey {
    checkLen(seed, XWING_SEED_LEN, "secretKey", "internal_error");
    const ex = shake256(seed, { dkLen: 96 });
    try {
      const kp = ml_kem768.keygen(ex.subarray(0, 64));
      const skX = ex.slice(64, 96);
      return {
        seed: new Uint8Array(seed),
        dkM: kp.secretKey,
        pkM: kp.publicKey,
        skX,
        pkX: this.x25519.publicKey(skX),
        x: null,
      };
    } finally {
      ex.fill(0);
    }
  }

  /**
   * Registers the gateway's static keys: their expanded form is computed once and kept until
   * `clearStaticKeys()`. Throws `internal_error` if a public key does not match its seed.
   */
  addStaticKeys(keys: readonly StaticKey[]): void {
    for (const k of keys) {
      if (this.lookup(k.secretKey)) continue;
      const e = this.#expand(k.secretKey);
      if (!ctEqual(this.#publicKeyOf(e), k.publicKey)) {
        throw new PqgateError(
          "internal_error",
          "static key: public key does not match the secret key",
        );
      }
      e.x = this.x25519.prepareSecret?.(e.skX) ?? null;
      this.#entries.push(e);
      this.#byObject.set(k.secretKey, e);
    }
  }

  /** Forgets (and wipes) every registered static key. */
  clearStaticKeys(): void {
    for (const e of this.#entries) {
      e.seed.fill(0);
      e.dkM.fill(0);
      e.skX.fill(0);
    }
    this.#entries.length = 0;
  }

  /** The registered expansion of `seed`, or null. Content-checked, so a mutated buffer misses. */
  lookup(seed: Uint8Array): ExpandedKey | null {
    const hit = this.#byObject.get(seed);
    if (hit && this.#entries.includes(hit) && ctEqual(hit.seed, seed)) return hit;
    for (const e of this.#entries) {
      if (ctEqual(e.seed, seed)) {
        this.#byObject.set(seed, e);
        return e;
      }
    }
    return null;
  }

  #publicKeyOf(e: ExpandedKey): Bytes {
    const pk = new Uint8Array(XWING_PK_LEN);
    pk.set(e.pkM);
    pk.set(e.pkX, MLKEM768_PK_LEN);
    return pk;
  }

  keygen(seed: Uint8Array): { publicKey: Bytes; secretKey: Bytes } {
    checkLen(seed, XWING_SEED_LEN, "seed", "internal_error");
    let e: ExpandedKey;
    try {
      e = this.#expand(seed);
    } catch {
      throw new PqgateError("internal_error", "keygen failed");
    }
    const publicKey = this.#publicKeyOf(e);
    e.dkM.fill(0);
    e.skX.fill(0);
    e.seed.fill(0);
    return { publicKey, secretKey: new Uint8Array(seed) };
  }

  encapsulate(
    publicKey: Uint8Array,
    eseed: Uint8Array,
  ): { cipherText: Bytes; sharedSecret: Bytes } {
    checkLen(eseed, XWING_ESEED_LEN, "eseed", "internal_error");
    checkLen(publicKey, XWING_PK_LEN, "publicKey", "handshake_failed");
    if (!xwingPublicKeyValid(publicKey)) {
      throw new PqgateError("handshake_failed", "publicKey: invalid");
    }
    const pkM = publicKey.subarray(0, MLKEM768_PK_LEN);
    let ctM: Uint8Array, ssM: Uint8Array;
    try {
      const r = ml_kem768.encapsulate(pkM, eseed.subarray(0, 32));
      ctM = r.cipherText;
      ssM = r.sharedSecret;
    } catch {
      throw new PqgateError("handshake_failed", "publicKey: invalid");
    }
    try {
      return this.finishEncapsulate(publicKey, ctM, ssM, eseed.subarray(32, 64));
    } finally {
      ssM.fill(0);
    }
  }

  /** The X25519 half of Encaps plus the combiner, given the ML-KEM half (ct_M, ss_M). */
  finishEncapsulate(
    publicKey: Uint8Array,
    ctM: Uint8Array,
    ssM: Uint8Array,
    ekX: Uint8Array,
  ): { cipherText: Bytes; sharedSecret: Bytes } {
    if (ctM.length !== MLKEM768_CT_LEN || ssM.length !== XWING_SS_LEN) {
      throw new PqgateError("internal_error", "encapsulate: unexpected ML-KEM output size");
    }
    const pkX = publicKey.subarray(MLKEM768_PK_LEN);
    let ssX: Uint8Array, ctX: Uint8Array;
    try {
      if (this.x25519.ephemeral) {
        ({ sharedSecret: ssX, publicKey: ctX } = this.x25519.ephemeral(ekX, pkX));
      } else {
        ssX = this.x25519.sharedSecret(ekX, pkX);
        ctX = this.x25519.publicKey(ekX);
      }
    } catch {
      throw new PqgateError("handshake_failed", "publicKey: invalid");
    }
    const sharedSecret = xwingCombine(this.sha3, ssM, ssX, ctX, pkX);
    ssX.fill(0);
    const cipherText = new Uint8Array(XWING_CT_LEN);
    cipherText.set(ctM);
    cipherText.set(ctX, MLKEM768_CT_LEN);
    return { cipherText, sharedSecret };
  }

  decapsulate(cipherText: Uint8Array, secretKey: Uint8Array): Bytes {
    checkLen(secretKey, XWING_SEED_LEN, "secretKey", "internal_error");
    checkLen(cipherText, XWING_CT_LEN, "cipherText", "handshake_failed");
    const cached = this.lookup(secretKey);
    const e = cached ?? this.#expand(secretKey);
    let ssM: Uint8Array | null = null, ssX: Uint8Array | null = null;
    try {
      ssM = ml_kem768.decapsulate(cipherText.subarray(0, MLKEM768_CT_LEN), e.dkM);
      const ctX = cipherText.subarray(MLKEM768_CT_LEN);
      try {
        ssX = e.x ? e.x.sharedSecret(ctX) : this.x25519.sharedSecret(e.skX, ctX);
      } catch {
        // Only a low-order ct_X reaches here (PROTOCOL.md §2), as with xwingNoble.
        throw new PqgateError("handshake_failed", "cipherText: invalid");
      }
      return xwingCombine(this.sha3, ssM, ssX, ctX, e.pkX);
    } finally {
      ssM?.fill(0);
      ssX?.fill(0);
      if (!cached) {
        e.dkM.fill(0);
        e.skX.fill(0);
        e.seed.fill(0);
      }
    }
  }
}
