/**
 * Native ML-KEM-768 through the WebCrypto "modern algorithms" API (WICG webcrypto-modern-algos;
 * Deno 2.9, Node >= 24.7, workerd 2026-11 with `webcrypto_modern_algorithms`):
 *   importKey("raw-seed", d||z, {name:"ML-KEM-768"}, false, ["decapsulateBits"])
 *   importKey("raw-public", pk_M, {name:"ML-KEM-768"}, false, ["encapsulateBits"])
 *   encapsulateBits({name:"ML-KEM-768"}, publicKey) → {ciphertext, sharedKey}
 *   decapsulateBits({name:"ML-KEM-768"}, privateKey, ciphertext) → ArrayBuffer(32)
 *
 * These are async and the protocol core's handshake is synchronous, so this backend splits a
 * gateway handshake in two:
 *
 *   const kem = backend.forConnection();            // per connection, pass as ServerHandshake's kem
 *   await kem.prepareServer(clientHelloBytes);      // async: native ML-KEM decaps of ct_S and
 *                                                   // encaps to ek_C, in parallel
 *   handshake.receiveClientHello(clientHelloBytes); // sync core; consumes the prepared halves
 *
 * The sync `decapsulate` / `encapsulate` then only do X25519 + the SHA3 combiner (natively).
 * Anything not prepared (a different input, a failed or skipped preparation, the client side)
 * falls through to the deterministic `CachedXWing`, so results never depend on the
 * preparation except in one documented way:
 *
 *   ENCAPSULATION RANDOMNESS. WebCrypto's encapsulateBits takes no randomness input. A prepared
 *   `encapsulate(pk, eseed)` therefore honours only eseed[32:64] (the X25519 ephemeral) and
 *   takes the ML-KEM message m from the platform CSPRNG instead of eseed[0:32]. The output is a
 *   valid X-Wing encapsulation (any decapsulator recovers the same shared secret; the tests
 *   prove it against noble) but not a deterministic function of eseed. Use it only where the
 *   handshake's RandomSource is a CSPRNG anyway (production); vectors and seeded tests use the
 *   plain synchronous backend, which never calls prepareServer.
 *
 * Decapsulation is deterministic and byte-identical to noble (FIPS 203 decaps with the same
 * d||z seed; implicit rejection included), prepared or not.
 */
import { shake256 } from "@noble/hashes/sha3.js";
import { decodeClientHello } from "../protocol/hello.ts";
import { MLKEM768_PK_LEN, xwingPublicKeyValid } from "../protocol/kem.ts";
import {
  AUTH_PINNED,
  XWING_CT_LEN,
  XWING_ESEED_LEN,
  XWING_PK_LEN,
  XWING_SEED_LEN,
} from "../protocol/constants.ts";
import type { HybridKem, StaticKey } from "../protocol/types.ts";
import type { Bytes } from "../protocol/bytes.ts";
import type { CachedXWing } from "./xwing.ts";
import { MLKEM768_CT_LEN, type ModernSubtle } from "./webcrypto-shared.ts";

const ALG = { name: "ML-KEM-768" } as const;

function subtle(): ModernSubtle | null {
  const s = (globalThis.crypto?.subtle ?? null) as unknown as ModernSubtle | null;
  if (!s) return null;
  for (const m of ["importKey", "encapsulateBits", "decapsulateBits"] as const) {
    if (typeof s[m] !== "function") return null;
  }
  return s;
}

/** True when the runtime exposes the WebCrypto ML-KEM methods (support is proven by a self-test). */
export function hasWebCryptoMlKem(): boolean {
  return subtle() !== null;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

/** Native ML-KEM primitives (async). */
export class WebCryptoMlKem {
  readonly #s: ModernSubtle;
  private constructor(s: ModernSubtle) {
    this.#s = s;
  }
  /** null when the runtime lacks the API. */
  static create(): WebCryptoMlKem | null {
    const s = subtle();
    return s ? new WebCryptoMlKem(s) : null;
  }
  /** Private key from the 64-byte FIPS 203 seed d||z. */
  importSeed(dz: Uint8Array): Promise<CryptoKey> {
    return this.#s.importKey("raw-seed", dz, ALG, false, ["decapsulateBits"]);
  }
  /** pk_M of a seed d||z via the draft's `getPublicKey` (self-test only: keygen identity). */
  async publicKeyOf(dz: Uint8Array): Promise<Uint8Array> {
    const s = this.#s as unknown as {
      getPublicKey?: (k: CryptoKey, u: string[]) => Promise<CryptoKey>;
    };
    const k = await this.#s.importKey("raw-seed", dz, ALG, true, ["decapsulateBits"]);
    if (typeof s.getPublicKey !== "function") throw new Error("getPublicKey unsupported");
    const pub = await s.getPublicKey.call(this.#s, k, ["encapsulateBits"]);
    return new Uint8Array(await this.#s.exportKey("raw-public", pub));
  }
  async encapsulate(pkM: Uint8Array): Promise<{ ctM: Uint8Array; ssM: Uint8Array }> {
    const key = await this.#s.importKey("raw-public", pkM, ALG, false, ["encapsulateBits"]);
    const r = await this.#s.encapsulateBits(ALG, key);
    return { ctM: new Uint8Array(r.ciphertext), ssM: new Uint8Array(r.sharedKey) };
  }
  async decapsulate(key: CryptoKey, ctM: Uint8Array): Promise<Uint8Array> {
    return new Uint8Array(await this.#s.decapsulateBits(ALG, key, ctM));
  }
}

/** Gateway-wide state: the sync fallback plus each static key's imported CryptoKey. */
export class WebCryptoXWingBackend {
  readonly name: string;
  readonly sync: CachedXWing;
  readonly mlkem: WebCryptoMlKem;
  readonly #keys: { keyId: Bytes; seed: Bytes; key: CryptoKey }[] = [];

  constructor(sync: CachedXWing, mlkem: WebCryptoMlKem) {
    this.sync = sync;
    this.mlkem = mlkem;
    this.name = `X-Wing (ML-KEM WebCrypto native + prepare, X25519 ${sync.x25519.name})`;
  }

  /** Registers static keys in the sync cache and imports their native decapsulation keys. */
  async addStaticKeys(keys: readonly StaticKey[]): Promise<void> {
    this.sync.addStaticKeys(keys);
    for (const k of keys) {
      if (this.#keys.some((e) => sameBytes(e.keyId, k.keyId) && sameBytes(e.seed, k.secretKey))) {
        continue;
      }
      const ex = shake256(k.secretKey, { dkLen: 96 });
      try {
        const key = await this.mlkem.importSeed(ex.subarray(0, 64));
        this.#keys.push({ keyId: new Uint8Array(k.keyId), seed: new Uint8Array(k.secretKey), key });
      } finally {
        ex.fill(0);
      }
    }
  }

  /** The registered static key with this key id (its seed and native CryptoKey), or null. */
  nativeKeyById(keyId: Uint8Array): { seed: Bytes; key: CryptoKey } | null {
    for (const e of this.#keys) if (sameBytes(e.keyId, keyId)) return e;
    return null;
  }

  /** Forgets every registered key (sync cache included). */
  clearStaticKeys(): void {
    for (const e of this.#keys) e.seed.fill(0);
    this.#keys.length = 0;
    this.sync.clearStaticKeys();
  }

  /** A fresh per-connection KEM (pass it as the ServerHandshake/ServerSession `kem`). */
  forConnection(): PreparedXWing {
    return new PreparedXWing(this);
  }
}

/** A per-connection HybridKem whose ML-KEM halves can be precomputed natively (see top). */
export class PreparedXWing implements HybridKem {
  readonly name: string;
  readonly #b: WebCryptoXWingBackend;
  #dec: { ct: Bytes; seed: Bytes; ssM: Uint8Array } | null = null;
  #enc: { pk: Bytes; ctM: Uint8Array; ssM: Uint8Array } | null = null;
  /** Counters for tests and metrics: how many sync calls used a prepared half. */
  readonly used = { decapsulate: 0, encapsulate: 0 };

  constructor(b: WebCryptoXWingBackend) {
    this.#b = b;
    this.name = b.name;
  }

  /**
   * Precomputes, natively and in parallel, the ML-KEM decapsulation of ct_S (pinned mode, key
   * registered) and an ML-KEM encapsulation to ek_C. Never throws and never changes what the
   * core will decide: a malformed ClientHello, an unknown key or an invalid ek_C simply leave
   * nothing prepared, and the core reports the error as usual.
   */
  async prepareServer(clientHello: Uint8Array): Promise<void> {
    this.discard();
    let ch;
    try {
      ch = decodeClientHello(clientHello);
    } catch {
      return;
    }
    const jobs: Promise<void>[] = [];
    if (ch.authMode === AUTH_PINNED && ch.ctS && ch.ctS.length === XWING_CT_LEN) {
      const ctS = new Uint8Array(ch.ctS);
      // Only a speculation: the core still selects the key by key_id itself, and uses this
      // result only if it then decapsulates exactly this ct_S with exactly this seed.
      const k = this.#b.nativeKeyById(ch.keyId);
      if (k) {
        jobs.push(
          this.#b.mlkem.decapsulate(k.key, ctS.subarray(0, MLKEM768_CT_LEN)).then((ssM) => {
            if (ssM.length === 32) this.#dec = { ct: ctS, seed: new Uint8Array(k.seed), ssM };
          }),
        );
      }
    }
    if (ch.ekC.length === XWING_PK_LEN && xwingPublicKeyValid(ch.ekC)) {
      const pk = new Uint8Array(ch.ekC);
      jobs.push(
        this.#b.mlkem.encapsulate(pk.subarray(0, MLKEM768_PK_LEN)).then(({ ctM, ssM }) => {
          if (ctM.length === MLKEM768_CT_LEN && ssM.length === 32) this.#enc = { pk, ctM, ssM };
        }),
      );
    }
    const results = await Promise.allSettled(jobs);
    void results; // a failed job leaves its half unprepared: the sync path computes it
  }

  /** Drops (and wipes) anything prepared and not used. */
  discard(): void {
    this.#dec?.ssM.fill(0);
    this.#enc?.ssM.fill(0);
    this.#dec = null;
    this.#enc = null;
  }

  keygen(seed: Uint8Array): { publicKey: Bytes; secretKey: Bytes } {
    return this.#b.sync.keygen(seed);
  }

  encapsulate(
    publicKey: Uint8Array,
    eseed: Uint8Array,
  ): { cipherText: Bytes; sharedSecret: Bytes } {
    const p = this.#enc;
    if (
      p && publicKey instanceof Uint8Array && sameBytes(p.pk, publicKey) &&
      eseed instanceof Uint8Array && eseed.length === XWING_ESEED_LEN
    ) {
      this.#enc = null;
      try {
        const r = this.#b.sync.finishEncapsulate(publicKey, p.ctM, p.ssM, eseed.subarray(32, 64));
        this.used.encapsulate++;
        return r;
      } finally {
        p.ssM.fill(0);
      }
    }
    return this.#b.sync.encapsulate(publicKey, eseed);
  }

  decapsulate(cipherText: Uint8Array, secretKey: Uint8Array): Bytes {
    const p = this.#dec;
    if (
      p && cipherText instanceof Uint8Array && secretKey instanceof Uint8Array &&
      secretKey.length === XWING_SEED_LEN && sameBytes(p.ct, cipherText) &&
      sameBytes(p.seed, secretKey)
    ) {
      const e = this.#b.sync.lookup(secretKey);
      if (e) {
        this.#dec = null;
        try {
          const r = this.#b.sync.finishDecapsulate(cipherText, p.ssM, e);
          this.used.decapsulate++;
          return r;
        } finally {
          p.ssM.fill(0);
        }
      }
    }
    return this.#b.sync.decapsulate(cipherText, secretKey);
  }
}
