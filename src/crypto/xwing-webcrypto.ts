/**
 * The one native X-Wing (draft-connolly-cfrg-xwing-kem, PROTOCOL.md §2) on WebCrypto, for the
 * client and the gateway. ML-KEM-768 through the WebCrypto "modern algorithms" API (WICG
 * webcrypto-modern-algos: Deno 2.9, Node >= 24.7, workerd 2026-11 with
 * `webcrypto_modern_algorithms`):
 *
 *   importKey("raw-seed", d||z, {name:"ML-KEM-768"}, false, ["decapsulateBits"])
 *   getPublicKey(privateKey, ["encapsulateBits"]) + exportKey("raw-public", …)   pk_M (optional)
 *   importKey("raw-public", pk_M, …, ["encapsulateBits"]) + encapsulateBits(…)    encaps
 *   decapsulateBits({name:"ML-KEM-768"}, privateKey, ct_M)                      decaps
 *
 * X25519 is pluggable and async: WebCrypto (the client: pkcs8 import of the raw scalar,
 * deriveBits, the base point 9 for public keys), or any sync `X25519Ops` (the gateway:
 * node:crypto, passed in by select.ts; or noble). SHAKE256 (seed expansion) is noble's, the
 * SHA3-256 combiner pluggable. Platform-neutral: no node:crypto import, so the browser client
 * bundles this file.
 *
 * `WebCryptoXWing` is async and the protocol core's handshake is synchronous, so the work is
 * done AHEAD of the core, per connection, by a role adapter (`PreparedXWingBase`) that returns a
 * prepared result only for exactly the prepared input and otherwise runs the sync fallback
 * (`sync`: `xwingNoble` on the client, the gateway's `CachedXWing`), so error codes never depend
 * on the backend:
 *
 *   client  kem = new PreparedClientXWing(xw)    // xwing-webcrypto-client.ts; PreparableClientKem
 *           await kem.prepareClient({ seed, serverPublicKey, eseed }); // keygen + encaps
 *           await kem.prepareServerHello(serverHello);                 // decaps of ct_E
 *   gateway kem = new WebCryptoXWingBackend(xw).forConnection()        // xwing-webcrypto-server.ts
 *           await kem.prepareServer(clientHello);  // decaps of ct_S with a registered static
 *                                                  // key; the ML-KEM half of the encaps to ek_C
 *                                                  // (the X25519 half needs the core's eseed:
 *                                                  // done by the sync call, CachedXWing)
 *
 * ENCAPSULATION RANDOMNESS. WebCrypto's encapsulateBits takes no randomness input, so a native
 * encapsulation honours only eseed[32:64] (the X25519 ephemeral) and takes the ML-KEM message
 * from the platform CSPRNG instead of eseed[0:32]. The result is a valid X-Wing encapsulation
 * (any decapsulator recovers the same secret; self-tested) but not a deterministic function of
 * eseed. It is only used where the handshake's RandomSource is a CSPRNG anyway; vectors and
 * seeded tests use the sync backends. Keygen and decapsulation are deterministic and
 * byte-identical to noble, prepared or not.
 *
 * Whether it is used is decided by `selectWebCryptoXWing`: each candidate (one per X25519) must
 * pass `selfTestXWing` (self-test.ts); missing API, an exception or any mismatch → the next
 * candidate, then none (noble).
 */
import { shake256 } from "@noble/hashes/sha3.js";
import { type Bytes, concat, ctEqual } from "../protocol/bytes.ts";
import {
  XWING_CT_LEN,
  XWING_ESEED_LEN,
  XWING_PK_LEN,
  XWING_SEED_LEN,
  XWING_SS_LEN,
} from "../protocol/constants.ts";
import { MLKEM768_PK_LEN, xwingNoble, xwingPublicKeyValid } from "../protocol/kem.ts";
import type { HybridKem, StaticKey } from "../protocol/types.ts";
import {
  allZero,
  MLKEM768_CT_LEN,
  nobleSha3,
  nobleX25519,
  PKCS8_X25519_PREFIX,
  type Sha3,
  type X25519Ops,
  type X25519Secret,
  xwingCombine,
} from "./primitives.ts";
import { selfTestXWing } from "./self-test.ts";

/** The WebCrypto ML-KEM / X25519 methods used here (not yet in TypeScript's lib.dom). */
export interface ModernSubtle {
  importKey(
    format: string,
    data: Uint8Array,
    alg: object,
    extractable: boolean,
    usages: string[],
  ): Promise<CryptoKey>;
  exportKey(format: string, key: CryptoKey): Promise<ArrayBuffer>;
  encapsulateBits(
    alg: object,
    key: CryptoKey,
  ): Promise<{ ciphertext: ArrayBuffer; sharedKey: ArrayBuffer }>;
  decapsulateBits(alg: object, key: CryptoKey, ct: Uint8Array): Promise<ArrayBuffer>;
  getPublicKey?(key: CryptoKey, usages: string[]): Promise<CryptoKey>;
  deriveBits(alg: object, key: CryptoKey, length: number): Promise<ArrayBuffer>;
}

const MLKEM = { name: "ML-KEM-768" } as const;
const X25519 = { name: "X25519" } as const;
const X25519_BASE: Bytes = (() => {
  const b = new Uint8Array(32);
  b[0] = 9;
  return b;
})();

/** Native ML-KEM-768 primitives (async). */
export class WebCryptoMlKem {
  readonly #s: ModernSubtle;
  /** Whether pk_M can be derived natively (`getPublicKey`; else keygen uses the sync KEM). */
  readonly hasPublicKey: boolean;
  private constructor(s: ModernSubtle) {
    this.#s = s;
    this.hasPublicKey = typeof s.getPublicKey === "function";
  }
  /** null when `subtle` (default: the runtime's) lacks the API. */
  static create(subtle: unknown = globalThis.crypto?.subtle): WebCryptoMlKem | null {
    const s = subtle as Partial<ModernSubtle> | null | undefined;
    if (!s) return null;
    for (const m of ["importKey", "exportKey", "encapsulateBits", "decapsulateBits"] as const) {
      if (typeof s[m] !== "function") return null;
    }
    return new WebCryptoMlKem(s as ModernSubtle);
  }
  /** Private key from the 64-byte FIPS 203 seed d||z. */
  importSeed(dz: Uint8Array): Promise<CryptoKey> {
    return this.#s.importKey("raw-seed", dz, MLKEM, false, ["decapsulateBits"]);
  }
  /** pk_M of a private key (`getPublicKey`; throws where the runtime lacks it). */
  async publicKey(key: CryptoKey): Promise<Bytes> {
    if (!this.#s.getPublicKey) throw new Error("getPublicKey unsupported");
    const pub = await this.#s.getPublicKey(key, ["encapsulateBits"]);
    return new Uint8Array(await this.#s.exportKey("raw-public", pub));
  }
  async encapsulate(pkM: Uint8Array): Promise<{ ctM: Bytes; ssM: Bytes }> {
    const key = await this.#s.importKey("raw-public", pkM, MLKEM, false, ["encapsulateBits"]);
    const r = await this.#s.encapsulateBits(MLKEM, key);
    return { ctM: new Uint8Array(r.ciphertext), ssM: new Uint8Array(r.sharedKey) };
  }
  async decapsulate(key: CryptoKey, ctM: Uint8Array): Promise<Bytes> {
    return new Uint8Array(await this.#s.decapsulateBits(MLKEM, key, ctM));
  }
}

/** True when the runtime exposes the WebCrypto ML-KEM methods (support is proven by a self-test). */
export function hasWebCryptoMlKem(): boolean {
  return WebCryptoMlKem.create() !== null;
}

/** X25519 for the async X-Wing. A secret is an opaque handle. */
export interface AsyncX25519 {
  readonly name: string;
  secret(scalar: Uint8Array): Promise<unknown>;
  /** X25519(secret, u); rejects on an all-zero result (low-order u). u = 9: the public key. */
  dh(secret: unknown, u: Uint8Array): Promise<Uint8Array>;
  /** Wipes a secret's bytes where it holds any. */
  wipe?(secret: unknown): void;
}

/** X25519 through WebCrypto (pkcs8 import, deriveBits). */
export function webCryptoX25519(subtle: unknown): AsyncX25519 {
  const s = subtle as ModernSubtle;
  let base: Promise<CryptoKey> | null = null;
  return {
    name: "WebCrypto",
    secret(scalar) {
      const der = concat(PKCS8_X25519_PREFIX, scalar);
      return s.importKey("pkcs8", der, X25519, false, ["deriveBits"]).finally(() => der.fill(0));
    },
    async dh(secret, u) {
      const pub = ctEqual(u, X25519_BASE)
        ? await (base ??= s.importKey("raw", X25519_BASE, X25519, true, []))
        : await s.importKey("raw", new Uint8Array(u), X25519, true, []);
      const out = new Uint8Array(
        await s.deriveBits({ name: "X25519", public: pub }, secret as CryptoKey, 256),
      );
      if (out.length !== 32 || allZero(out)) throw new Error("x25519: low-order point");
      return out;
    },
  };
}

/** A sync `X25519Ops` (noble, node:crypto) as an `AsyncX25519`; uses its prepared handles. */
export function asyncX25519(ops: X25519Ops): AsyncX25519 {
  type Handle = { sk: Uint8Array; prepared: X25519Secret | null };
  return {
    name: ops.name,
    secret: async (scalar) => {
      const sk = new Uint8Array(scalar); // the caller wipes `scalar`
      return { sk, prepared: ops.prepareSecret?.(sk) ?? null };
    },
    async dh(secret, u) {
      const h = secret as Handle;
      if (ctEqual(u, X25519_BASE)) return ops.publicKey(h.sk);
      return h.prepared ? h.prepared.sharedSecret(u) : ops.sharedSecret(h.sk, u);
    },
    wipe: (secret) => (secret as Handle).sk.fill(0),
  };
}

/** An X-Wing secret key in native form. */
export interface NativeXWingKey {
  /** Own copy of the 32-byte seed. */
  seed: Bytes;
  /** ML-KEM decapsulation key (from d||z). */
  dkM: CryptoKey;
  /** X25519 secret handle (of `x25519`). */
  x: unknown;
  pkX: Uint8Array;
}

/** The sync KEM behind the native one (fallback, keygen without getPublicKey, gateway cache). */
export type SyncXWing = HybridKem & {
  addStaticKeys?(keys: readonly StaticKey[]): void;
  clearStaticKeys?(): void;
  /** The X25519 half of an encapsulation plus the combiner, given the ML-KEM half. */
  finishEncapsulate?(
    publicKey: Uint8Array,
    ctM: Uint8Array,
    ssM: Uint8Array,
    ekX: Uint8Array,
  ): { cipherText: Bytes; sharedSecret: Bytes };
};

export interface WebCryptoXWingParts {
  mlkem: WebCryptoMlKem;
  /** Default noble. */
  x25519?: AsyncX25519;
  /** The combiner's SHA3-256. Default noble. */
  sha3?: Sha3;
  /** Default `xwingNoble`. */
  sync?: SyncXWing;
}

/** Native X-Wing, async (see the file comment). */
export class WebCryptoXWing {
  readonly name: string;
  readonly mlkem: WebCryptoMlKem;
  readonly x25519: AsyncX25519;
  readonly sha3: Sha3;
  readonly sync: SyncXWing;

  constructor(parts: WebCryptoXWingParts) {
    this.mlkem = parts.mlkem;
    this.x25519 = parts.x25519 ?? asyncX25519(nobleX25519);
    this.sha3 = parts.sha3 ?? nobleSha3;
    this.sync = parts.sync ?? xwingNoble;
    this.name = `X-Wing (ML-KEM WebCrypto, X25519 ${this.x25519.name})`;
  }

  /** The native form of a secret key (SHAKE256 expansion, ML-KEM and X25519 imports). */
  async importKey(seed: Uint8Array): Promise<NativeXWingKey> {
    if (!(seed instanceof Uint8Array) || seed.length !== XWING_SEED_LEN) {
      throw new Error("secretKey: expected 32 bytes");
    }
    const ex = shake256(seed, { dkLen: 96 });
    try {
      const [dkM, x] = await Promise.all([
        this.mlkem.importSeed(ex.subarray(0, 64)),
        this.x25519.secret(ex.subarray(64, 96)),
      ]);
      const pkX = await this.x25519.dh(x, X25519_BASE);
      return { seed: new Uint8Array(seed), dkM, x, pkX };
    } finally {
      ex.fill(0);
    }
  }

  /** Keygen: the public key (pk_M natively where the runtime can) and the native secret key. */
  async keygen(seed: Uint8Array): Promise<{ publicKey: Bytes; secretKey: NativeXWingKey }> {
    const key = await this.importKey(seed);
    const pkM = this.mlkem.hasPublicKey
      ? await this.mlkem.publicKey(key.dkM)
      : this.sync.keygen(seed).publicKey.subarray(0, MLKEM768_PK_LEN);
    const publicKey = concat(pkM, key.pkX);
    if (publicKey.length !== XWING_PK_LEN) throw new Error("keygen: unexpected public key size");
    return { publicKey, secretKey: key };
  }

  /** Forgets a native key's secret bytes. */
  wipe(key: NativeXWingKey): void {
    key.seed.fill(0);
    this.x25519.wipe?.(key.x);
  }

  /** The ML-KEM half of an encapsulation (the public key is checked first, as the core does). */
  async encapsulateMlKem(publicKey: Uint8Array): Promise<{ ctM: Bytes; ssM: Bytes }> {
    if (!(publicKey instanceof Uint8Array) || !xwingPublicKeyValid(publicKey)) {
      throw new Error("publicKey: invalid");
    }
    const r = await this.mlkem.encapsulate(publicKey.subarray(0, MLKEM768_PK_LEN));
    if (r.ctM.length !== MLKEM768_CT_LEN || r.ssM.length !== XWING_SS_LEN) {
      throw new Error("encapsulate: unexpected ML-KEM output size");
    }
    return r;
  }

  /** Encapsulation; the ML-KEM message comes from the platform, not eseed[0:32] (see top). */
  async encapsulate(
    publicKey: Uint8Array,
    eseed: Uint8Array,
  ): Promise<{ cipherText: Bytes; sharedSecret: Bytes }> {
    if (!(eseed instanceof Uint8Array) || eseed.length !== XWING_ESEED_LEN) {
      throw new Error("eseed: expected 64 bytes");
    }
    const pkX = publicKey.subarray(MLKEM768_PK_LEN);
    const [{ ctM, ssM }, [ctX, ssX]] = await Promise.all([
      this.encapsulateMlKem(publicKey),
      this.x25519.secret(eseed.subarray(32, 64)).then((ek) =>
        Promise.all([this.x25519.dh(ek, X25519_BASE), this.x25519.dh(ek, pkX)]).finally(() =>
          this.x25519.wipe?.(ek)
        )
      ),
    ]);
    try {
      return {
        cipherText: concat(ctM, ctX),
        sharedSecret: xwingCombine(this.sha3, ssM, ssX, ctX, pkX),
      };
    } finally {
      ssM.fill(0);
      ssX.fill(0);
    }
  }

  async decapsulate(cipherText: Uint8Array, key: NativeXWingKey): Promise<Bytes> {
    if (!(cipherText instanceof Uint8Array) || cipherText.length !== XWING_CT_LEN) {
      throw new Error("cipherText: expected 1120 bytes");
    }
    const ctX = cipherText.subarray(MLKEM768_CT_LEN);
    const [ssM, ssX] = await Promise.all([
      this.mlkem.decapsulate(key.dkM, cipherText.subarray(0, MLKEM768_CT_LEN)),
      this.x25519.dh(key.x, ctX),
    ]);
    try {
      if (ssM.length !== XWING_SS_LEN) throw new Error("decapsulate: unexpected ML-KEM output");
      return xwingCombine(this.sha3, ssM, ssX, ctX, key.pkX);
    } finally {
      ssM.fill(0);
      ssX.fill(0);
    }
  }
}

type PreparedDecapsulation = { ct: Bytes; seed: Bytes; ss: Bytes };

/** What both roles share: a prepared decapsulation, and the sync fallback for everything else. */
export abstract class PreparedXWingBase implements HybridKem {
  readonly name: string;
  protected readonly xw: WebCryptoXWing;
  protected dec: PreparedDecapsulation | null = null;
  /** How many sync calls returned a prepared (native) result: for tests and metrics. */
  abstract readonly used: { decapsulate: number; encapsulate: number };

  constructor(xw: WebCryptoXWing) {
    this.xw = xw;
    this.name = xw.name;
  }

  /** Native decapsulation of `ct` with `key`, kept for the core's sync call. Never rejects. */
  protected async prepareDecapsulation(ct: Uint8Array, key: NativeXWingKey): Promise<void> {
    try {
      const copy = new Uint8Array(ct);
      const ss = await this.xw.decapsulate(copy, key);
      this.dropDecapsulation();
      this.dec = { ct: copy, seed: new Uint8Array(key.seed), ss };
    } catch { /* nothing prepared: the sync path decapsulates (and reports errors) */ }
  }

  protected dropDecapsulation(): void {
    this.dec?.ss.fill(0);
    this.dec?.seed.fill(0);
    this.dec = null;
  }

  /** Drops (and wipes) anything prepared and not used. */
  discard(): void {
    this.dropDecapsulation();
  }

  keygen(seed: Uint8Array): { publicKey: Uint8Array; secretKey: Uint8Array } {
    return this.xw.sync.keygen(seed);
  }

  abstract encapsulate(
    publicKey: Uint8Array,
    eseed: Uint8Array,
  ): { cipherText: Uint8Array; sharedSecret: Uint8Array };

  decapsulate(cipherText: Uint8Array, secretKey: Uint8Array): Uint8Array {
    const p = this.dec;
    if (
      p && cipherText instanceof Uint8Array && secretKey instanceof Uint8Array &&
      ctEqual(p.ct, cipherText) && ctEqual(p.seed, secretKey)
    ) {
      this.dec = null;
      this.used.decapsulate++;
      p.seed.fill(0);
      return p.ss;
    }
    return this.xw.sync.decapsulate(cipherText, secretKey);
  }
}

export interface SelectWebCryptoOptions {
  /** Default: the runtime's `crypto.subtle`. */
  subtle?: unknown;
  /** X25519 candidates in order. Default: WebCrypto, then noble. */
  x25519?: readonly AsyncX25519[];
  sha3?: Sha3;
  sync?: SyncXWing;
}

/**
 * The first native X-Wing candidate (one per X25519) that passes `selfTestXWing`, or null;
 * `fallbacks` says why each one before it (or all) were not used. Never throws.
 */
export async function selectWebCryptoXWing(
  opts: SelectWebCryptoOptions = {},
): Promise<{ kem: WebCryptoXWing | null; fallbacks: string[] }> {
  const subtle = "subtle" in opts ? opts.subtle : globalThis.crypto?.subtle;
  const mlkem = WebCryptoMlKem.create(subtle ?? null);
  if (!mlkem) return { kem: null, fallbacks: ["ML-KEM WebCrypto: not available in this runtime"] };
  const fallbacks: string[] = [];
  for (const x25519 of opts.x25519 ?? [webCryptoX25519(subtle), asyncX25519(nobleX25519)]) {
    const kem = new WebCryptoXWing({ mlkem, x25519, sha3: opts.sha3, sync: opts.sync });
    const r = await selfTestXWing(kem);
    if (r.ok) return { kem, fallbacks };
    fallbacks.push(`${kem.name}: ${r.reason}`);
  }
  return { kem: null, fallbacks };
}
