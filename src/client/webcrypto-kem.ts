/**
 * The client's X-Wing (draft-connolly-cfrg-xwing-kem) on native WebCrypto, where the runtime has
 * ML-KEM-768 (WICG webcrypto-modern-algos: Deno 2.9, Node >= 24.7, browsers as they ship it):
 *
 *   importKey("raw-seed", d||z, {name:"ML-KEM-768"}, false, ["decapsulateBits"])
 *   getPublicKey(privateKey, ["encapsulateBits"]) + exportKey("raw-public", …)   keygen
 *   importKey("raw-public", pk_M, …, ["encapsulateBits"]) + encapsulateBits(…)    encaps
 *   decapsulateBits({name:"ML-KEM-768"}, privateKey, ct_M)                      decaps
 *
 * X25519 through WebCrypto too where it passes the self-test (pkcs8 import of the raw scalar,
 * deriveBits with the base point 9 for public keys), else noble. SHAKE256 (seed expansion) and
 * the SHA3-256 combiner are noble's (already in the bundle). WebCrypto only: no node:crypto, no
 * server code.
 *
 * The protocol core's handshake is synchronous and these calls are async, so the work is done
 * AHEAD of the core, per connection (`NativeClientXWing`, a `PreparableClientKem`):
 *
 *   await kem.prepareClient({ seed, serverPublicKey, eseed }); // while the socket connects
 *   handshake.start();              // sync core: keygen/encapsulate return the prepared results
 *   await kem.prepareServerHello(serverHelloBytes);   // native decaps of ct_E
 *   handshake.receiveServerHello(serverHelloBytes);  // sync core: decapsulate → prepared result
 *
 * A prepared result is used only when the core asks for exactly the prepared input (same seed;
 * same pk and eseed; same ciphertext and secret key). Everything else — a failed or skipped
 * preparation, a malformed or invalid input — runs `xwingNoble`, so error codes never depend on
 * the backend.
 *
 * ENCAPSULATION RANDOMNESS (as in src/crypto/xwing-webcrypto.ts): `encapsulateBits` takes no
 * randomness, so a prepared encapsulation honours eseed[32:64] (the X25519 ephemeral) but draws
 * the ML-KEM message from the platform CSPRNG instead of eseed[0:32]. The result is a valid
 * X-Wing encapsulation for any decapsulator (tested against noble), just not a deterministic
 * function of eseed. Keygen and decapsulation are deterministic and byte-identical to noble.
 *
 * Whether the native path is used is decided once per process (`nativeClientXWingSupport`): a
 * self-test, one parallel round of WebCrypto calls, checks native against noble's answers on
 * fixed inputs (stored: see `SELF_TEST`; running noble itself would cost a cold 40-90 ms):
 * keygen public key equal, decapsulation of noble's ciphertext equal (and FIPS 203 implicit
 * rejection), native encapsulation round-trips, X25519 equal to RFC 7748. Missing API, an
 * exception or any mismatch → noble.
 */
import { x25519 as nobleX25519 } from "@noble/curves/ed25519.js";
import { sha3_256, shake256 } from "@noble/hashes/sha3.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { type Bytes, fromBase64Url, fromHex, toHex } from "../protocol/bytes.ts";
import {
  XWING_CT_LEN,
  XWING_ESEED_LEN,
  XWING_PK_LEN,
  XWING_SEED_LEN,
} from "../protocol/constants.ts";
import { decodeServerHello } from "../protocol/hello.ts";
import { MLKEM768_PK_LEN, xwingNoble, xwingPublicKeyValid } from "../protocol/kem.ts";
import type { PreparableClientKem } from "../tunnel/client-session.ts";
import {
  MLKEM768_CT_LEN,
  type ModernSubtle,
  PKCS8_X25519_PREFIX,
  XWING_LABEL,
} from "../crypto/webcrypto-shared.ts";

const MLKEM = { name: "ML-KEM-768" } as const;
const X25519 = { name: "X25519" } as const;
const X25519_BASE = (() => {
  const b = new Uint8Array(32);
  b[0] = 9;
  return b;
})();

function modernSubtle(subtle: unknown): ModernSubtle | null {
  const s = subtle as ModernSubtle | null | undefined;
  if (!s) return null;
  for (
    const m of [
      "importKey",
      "exportKey",
      "encapsulateBits",
      "decapsulateBits",
      "getPublicKey",
    ] as const
  ) {
    if (typeof s[m] !== "function") return null;
  }
  return s;
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

function cat(...parts: Uint8Array[]): Bytes {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** X-Wing combiner: SHA3-256(ss_M || ss_X || ct_X || pk_X || label). */
function combine(ssM: Uint8Array, ssX: Uint8Array, ctX: Uint8Array, pkX: Uint8Array): Bytes {
  const input = cat(ssM, ssX, ctX, pkX, XWING_LABEL);
  try {
    return new Uint8Array(sha3_256(input));
  } finally {
    input.fill(0);
  }
}

/** The X25519 operations the client needs, native or noble. A secret is opaque. */
interface X25519Impl {
  readonly name: string;
  secret(scalar: Uint8Array): Promise<unknown>;
  /** X25519(secret, u); rejects on an all-zero result (low-order u), like noble. */
  dh(secret: unknown, u: Uint8Array): Promise<Uint8Array>;
}

const nobleX: X25519Impl = {
  name: "noble",
  secret: (scalar) => Promise.resolve(new Uint8Array(scalar)),
  dh: (secret, u) =>
    Promise.resolve(new Uint8Array(nobleX25519.getSharedSecret(secret as Uint8Array, u))),
};

function webCryptoX(s: ModernSubtle): X25519Impl {
  let base: Promise<CryptoKey> | null = null;
  return {
    name: "WebCrypto",
    secret(scalar) {
      const der = cat(PKCS8_X25519_PREFIX, scalar);
      return s.importKey("pkcs8", der, X25519, false, ["deriveBits"]).finally(() => der.fill(0));
    },
    async dh(secret, u) {
      const pub = same(u, X25519_BASE)
        ? await (base ??= s.importKey("raw", X25519_BASE, X25519, true, []))
        : await s.importKey("raw", new Uint8Array(u), X25519, true, []);
      const out = new Uint8Array(
        await s.deriveBits({ name: "X25519", public: pub }, secret as CryptoKey, 256),
      );
      let z = 0;
      for (const b of out) z |= b;
      if (out.length !== 32 || z === 0) throw new Error("x25519: low-order point");
      return out;
    },
  };
}

/** What the process-wide self-test found. */
export interface NativeClientXWingSupport {
  subtle: ModernSubtle;
  x25519: X25519Impl;
  /** e.g. "X-Wing (ML-KEM WebCrypto, X25519 WebCrypto)". */
  name: string;
  /** Why X25519 stayed noble, if it did. */
  x25519Fallback: string | null;
  /** Milliseconds the self-test took. */
  ms: number;
}

/** Per-connection X-Wing with native ML-KEM (+ X25519); falls back to `xwingNoble` per call. */
export class NativeClientXWing implements PreparableClientKem {
  readonly name: string;
  readonly #n: NativeClientXWingSupport;
  #kg: { seed: Bytes; publicKey: Bytes; dk: CryptoKey; skX: unknown } | null = null;
  #enc: { pk: Bytes; eseed: Bytes; cipherText: Bytes; sharedSecret: Bytes } | null = null;
  #dec: { ct: Bytes; seed: Bytes; ss: Bytes } | null = null;
  /** How many sync calls returned a prepared (native) result: for tests and metrics. */
  readonly used = { keygen: 0, encapsulate: 0, decapsulate: 0 };

  constructor(support: NativeClientXWingSupport) {
    this.#n = support;
    this.name = support.name;
  }

  async prepareClient(
    input: { seed: Uint8Array; serverPublicKey: Uint8Array | null; eseed: Uint8Array | null },
  ): Promise<void> {
    this.discard();
    const jobs: Promise<void>[] = [];
    const { seed, serverPublicKey: pk, eseed } = input;
    if (seed instanceof Uint8Array && seed.length === XWING_SEED_LEN) {
      jobs.push(this.#keygen(new Uint8Array(seed)).then((kg) => void (this.#kg = kg)));
    }
    if (
      pk instanceof Uint8Array && eseed instanceof Uint8Array && eseed.length === XWING_ESEED_LEN &&
      xwingPublicKeyValid(pk) // else: nothing prepared, the sync path reports the error
    ) {
      jobs.push(
        this.#encapsulate(new Uint8Array(pk), new Uint8Array(eseed)).then((e) =>
          void (this.#enc = e)
        ),
      );
    }
    await Promise.allSettled(jobs); // a failed job leaves its half to the sync path
  }

  async #keygen(seed: Bytes) {
    const ex = shake256(seed, { dkLen: 96 });
    try {
      const s = this.#n.subtle;
      const [dk, skX] = await Promise.all([
        s.importKey("raw-seed", ex.subarray(0, 64), MLKEM, false, ["decapsulateBits"]),
        this.#n.x25519.secret(ex.subarray(64, 96)),
      ]);
      const [pkM, pkX] = await Promise.all([
        s.getPublicKey(dk, ["encapsulateBits"]).then((pub) => s.exportKey("raw-public", pub)),
        this.#n.x25519.dh(skX, X25519_BASE),
      ]);
      const publicKey = cat(new Uint8Array(pkM), pkX);
      if (publicKey.length !== XWING_PK_LEN) throw new Error("unexpected public key size");
      return { seed, publicKey, dk, skX };
    } finally {
      ex.fill(0);
    }
  }

  async #encapsulate(pk: Bytes, eseed: Bytes) {
    const s = this.#n.subtle;
    const pkX = pk.subarray(MLKEM768_PK_LEN);
    const [m, x] = await Promise.all([
      s.importKey("raw-public", pk.subarray(0, MLKEM768_PK_LEN), MLKEM, false, ["encapsulateBits"])
        .then((key) => s.encapsulateBits(MLKEM, key)),
      this.#n.x25519.secret(eseed.subarray(32, 64)).then((ek) =>
        Promise.all([this.#n.x25519.dh(ek, X25519_BASE), this.#n.x25519.dh(ek, pkX)])
      ),
    ]);
    const ctM = new Uint8Array(m.ciphertext), ssM = new Uint8Array(m.sharedKey);
    const [ctX, ssX] = x;
    try {
      if (ctM.length !== MLKEM768_CT_LEN || ssM.length !== 32) {
        throw new Error("unexpected ML-KEM output size");
      }
      return { pk, eseed, cipherText: cat(ctM, ctX), sharedSecret: combine(ssM, ssX, ctX, pkX) };
    } finally {
      ssM.fill(0);
      ssX.fill(0);
    }
  }

  async prepareServerHello(serverHello: Uint8Array): Promise<void> {
    const kg = this.#kg;
    if (!kg || this.#dec) return;
    try {
      const ct = new Uint8Array(decodeServerHello(serverHello).ctE);
      if (ct.length !== XWING_CT_LEN) return;
      const ctX = ct.subarray(MLKEM768_CT_LEN);
      const [ssM, ssX] = await Promise.all([
        this.#n.subtle.decapsulateBits(MLKEM, kg.dk, ct.subarray(0, MLKEM768_CT_LEN)).then((b) =>
          new Uint8Array(b)
        ),
        this.#n.x25519.dh(kg.skX, ctX),
      ]);
      try {
        if (ssM.length !== 32 || this.#kg !== kg) return;
        this.#dec = {
          ct,
          seed: kg.seed,
          ss: combine(ssM, ssX, ctX, kg.publicKey.subarray(MLKEM768_PK_LEN)),
        };
      } finally {
        ssM.fill(0);
        ssX.fill(0);
      }
    } catch { /* nothing prepared: the sync path decapsulates (and reports errors) */ }
  }

  discard(): void {
    this.#kg?.seed.fill(0);
    if (this.#kg?.skX instanceof Uint8Array) this.#kg.skX.fill(0);
    this.#enc?.eseed.fill(0);
    this.#enc?.sharedSecret.fill(0);
    this.#dec?.ss.fill(0);
    this.#kg = this.#enc = this.#dec = null;
  }

  keygen(seed: Uint8Array): { publicKey: Uint8Array; secretKey: Uint8Array } {
    const p = this.#kg;
    if (p && seed instanceof Uint8Array && same(p.seed, seed)) {
      this.used.keygen++;
      return { publicKey: new Uint8Array(p.publicKey), secretKey: new Uint8Array(seed) };
    }
    return xwingNoble.keygen(seed);
  }

  encapsulate(
    publicKey: Uint8Array,
    eseed: Uint8Array,
  ): { cipherText: Uint8Array; sharedSecret: Uint8Array } {
    const p = this.#enc;
    if (
      p && publicKey instanceof Uint8Array && eseed instanceof Uint8Array &&
      same(p.pk, publicKey) && same(p.eseed, eseed)
    ) {
      this.#enc = null;
      p.eseed.fill(0);
      this.used.encapsulate++;
      return { cipherText: p.cipherText, sharedSecret: p.sharedSecret };
    }
    return xwingNoble.encapsulate(publicKey, eseed);
  }

  decapsulate(cipherText: Uint8Array, secretKey: Uint8Array): Uint8Array {
    const p = this.#dec;
    if (
      p && cipherText instanceof Uint8Array && secretKey instanceof Uint8Array &&
      same(p.ct, cipherText) && same(p.seed, secretKey)
    ) {
      this.#dec = null;
      this.used.decapsulate++;
      const out = new Uint8Array(p.ss);
      p.ss.fill(0);
      return out;
    }
    return xwingNoble.decapsulate(cipherText, secretKey);
  }
}

// ---- process-wide detection + self-test ----------------------------------------------------

function det(label: string, n: number): Bytes {
  return new Uint8Array(
    shake256(new TextEncoder().encode("pqgate client self-test " + label), { dkLen: n }),
  );
}

/**
 * The self-test's known answers, computed with noble (@noble/post-quantum ml_kem768) on fixed
 * inputs and stored, so that the runtime check needs no (cold, ~40-90 ms) noble ML-KEM/X25519
 * run; webcrypto-kem.test.ts recomputes every one of them with noble. X25519: RFC 7748 §6.1.
 */
export const SELF_TEST = {
  /** ML-KEM seed d||z = SHAKE256("pqgate client self-test dz", 64). */
  dz: () => det("dz", 64),
  /** Encapsulation message m = SHAKE256("pqgate client self-test m", 32) (noble's input). */
  m: () => det("m", 32),
  /** SHA-256 of noble's ML-KEM-768 public key for `dz`. */
  pkSha256: "a243537d82945c263a83362694cb77fab90e57be7ccba17810e17378bcff748b",
  /** noble's ML-KEM-768 ciphertext to that key with message `m` (base64url) … */
  ct:
    "9e3hJM6IyGLf97LKJemW5ncKa6hJA1T-JzOPYlzUX1pC6pMS3CuffBqXB2v9wQpoZjqxplUpkE-6uUR_rUSJPSCiHhcjAmnW" +
    "R3TuRsWzMSs7UD6fVhaPdtksYMeGOYCX-Nj-OtQlWxDb5NPzbap3N7PldeXRg2Ra6a3WDBauCY7Ev0B6ybDtq26t7bOmd-Xi" +
    "58pUeRw5UbTualn1cQTnhhdmInjnGIiBkb26brfy5PGXYbGqQYCPZ81FN7mU5WtspLd8IOrBkMXdgioGaQv--lFB5izH3pEF" +
    "rG-O9ovwqIhE1wCRF108L3BrdV4KHJhLCWJcXugqFblRk0fZFJLOW9fbUnl-YATF5jVFGhQNERXQaMRfDLOwXsSMLfYV6kWk" +
    "hMVUq1ADkdBJS0QIZV2pvj_5O0ma9KrKta1movPupo9PQD5RgLNlF9JxUMsDm2Y2YegccM_bZNnVvMKusBwdMNldYcde-AIk" +
    "uEx8MG_vPz08ER571ZYy0gubovcUi3t50GpfpQwJkaTeZzRnMw685e2oyFAm2yYjnpRI-FqBOexw_J2jBTtMG6vaf837Olow" +
    "b6jn-oyVDQvaIZeQ7KNGchNRiT9cYZ7WeWn6IdWOVobCKc1qibtBR_a0NeAPzHyZmQJ9gDPKiHbhBEvTd2RObHc1I9GUhX6g" +
    "18L8nRaB1h13qj2B0Bq0e8sf7Q-cMouItgGGFMTu6UWB2owA02jJshM56g4B8gCGBrzmEQWP3UeEZ9guhlQn-zzQWgxSWUPX" +
    "VBsO9M4lNOv-0V6FAbAX9uAB36BN2WhGRxlbOqHA58PJJgFlHmkx9fcjPMUo4IJsA4j0G5Vljz11Kc9axCE3a4GFyL7bSaql" +
    "YFCCZ76tRIO2DUq1D5dxLWMQDOZZUCCQwoS2WrTVqjCv6wJCW-23kznNzC3n1rhYOpxQQm6GE5j88klmkRvNigFEIYD_cDX9" +
    "XnhwnHQ9kMaQa5-n4OojaOE-qSbyy7-C7wyBwwF_sFi8YndA2GDptiB3lLcTqrTHjFBPNpvM0ul9vLD_WximM_bbUhNl1RTi" +
    "dtCd8E4D9hAGoKpV59sR5J4X7f-Us7JuUH1ChGW7vpuNpAnXLlqbhvEGoLNekjl18PZeaVMNSg3wReNOPS_9qsCj40Pqsf62" +
    "99tsQjMmSKLgljD7DW9WMFsAvm3pBFzJlmgdOUx2Ox_c_gVBN1vVv_HlDkINq99IVHU-bpVX2p-t_DxkSS3OpQqmp1PfhK-A" +
    "PtS0HtRJLXJND5_slsXIcuUhpyrjSNa34miFM5pi46sml6OBWXt0XD0llj7_ii2VUf1XhpUe5GXlYnKcAEP6xzAGHqHVVcxc" +
    "GqdVCqyz6PIdBXg2bwvwnRkCfrmbWYEwxsbMBJUMC9PsaJgX1dojsUd52p7HFzR9UK2Siq3SdJZC8ln7bu1MyTkn0GGUOWKs" +
    "31XTHkC9jL0",
  /** … and its shared secret. */
  ss: "b3d755084415f06de82f799e3c740032dc005f1bb8defd48752547c81de684fc",
  x25519: {
    a: "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
    pubA: "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
    pubB: "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
    shared: "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742",
  },
} as const;

function must(ok: boolean, what: string): void {
  if (!ok) throw new Error(what);
}

async function checkX25519(x: X25519Impl): Promise<void> {
  const v = SELF_TEST.x25519;
  const sa = await x.secret(fromHex(v.a));
  const [pub, dh] = await Promise.all([x.dh(sa, X25519_BASE), x.dh(sa, fromHex(v.pubB))]);
  must(toHex(pub) === v.pubA, "X25519 public key differs from RFC 7748 / noble");
  must(toHex(dh) === v.shared, "X25519 shared secret differs from RFC 7748 / noble");
}

/**
 * Native vs noble's known answers; throws on a missing API or any mismatch. One parallel round
 * of WebCrypto calls (~1 ms warm):
 * - keygen: the native key from seed d||z has noble's public key (SHA-256 compared);
 * - decapsulation of noble's ciphertext = noble's shared secret;
 * - decapsulation of that ciphertext with one bit flipped = the FIPS 203 implicit-rejection
 *   value SHAKE256(z || ct', 32) (computed here with noble);
 * - a native encapsulation to the native public key decapsulates (natively) to its secret, and
 *   is not rejected (≠ SHAKE256(z || ct, 32));
 * - X25519 (separately; a failure only makes X25519 noble): RFC 7748 §6.1 public key and DH.
 */
async function selfTest(s: ModernSubtle): Promise<NativeClientXWingSupport> {
  const t0 = performance.now();
  const dz = SELF_TEST.dz();
  const z = dz.subarray(32, 64);
  const ct = fromBase64Url(SELF_TEST.ct);
  const bad = new Uint8Array(ct);
  bad[0] ^= 1;
  const xNative = webCryptoX(s);
  const xCheck = checkX25519(xNative).then(() => null, (e) => String((e as Error)?.message ?? e));
  const dk = await s.importKey("raw-seed", dz, MLKEM, false, ["decapsulateBits"]);
  const dec = (c: Uint8Array) =>
    s.decapsulateBits(MLKEM, dk, c).then((b) => toHex(new Uint8Array(b)));
  const [[pkM, own], ss, ssBad, xErr] = await Promise.all([
    s.getPublicKey(dk, ["encapsulateBits"]).then((pub) =>
      Promise.all([
        s.exportKey("raw-public", pub),
        s.encapsulateBits(MLKEM, pub).then(async (r) => ({
          ct: new Uint8Array(r.ciphertext),
          ss: toHex(new Uint8Array(r.sharedKey)),
          dec: await dec(new Uint8Array(r.ciphertext)),
        })),
      ])
    ),
    dec(ct),
    dec(bad),
    xCheck,
  ]);
  const j = (c: Uint8Array) => toHex(shake256(cat(z, c), { dkLen: 32 }));
  must(
    toHex(sha256(new Uint8Array(pkM))) === SELF_TEST.pkSha256,
    "ML-KEM keygen: public key differs from noble",
  );
  must(ss === SELF_TEST.ss, "ML-KEM: native decaps of a noble ciphertext differs");
  must(ssBad === j(bad), "ML-KEM: implicit rejection differs from FIPS 203");
  must(
    own.ct.length === MLKEM768_CT_LEN && own.ss === own.dec && own.ss !== j(own.ct),
    "ML-KEM: native encaps/decaps disagree",
  );
  const x = xErr === null ? xNative : nobleX;
  return {
    subtle: s,
    x25519: x,
    name: `X-Wing (ML-KEM WebCrypto, X25519 ${x.name})`,
    x25519Fallback: xErr,
    ms: performance.now() - t0,
  };
}

/**
 * Checks `subtle` (a SubtleCrypto) for the API and runs the self-test; throws with the reason
 * when it cannot be used. Not cached (see `nativeClientXWingSupport`); exported for tests.
 */
export async function probeNativeClientXWing(subtle: unknown): Promise<NativeClientXWingSupport> {
  const s = modernSubtle(subtle);
  if (!s) throw new Error("no WebCrypto ML-KEM (encapsulateBits/decapsulateBits/getPublicKey)");
  try {
    return await selfTest(s);
  } catch (e) {
    throw new Error(`self-test failed: ${(e as Error)?.message ?? e}`);
  }
}

let support: Promise<NativeClientXWingSupport | null> | null = null;
let lastError: string | null = null;

/**
 * Whether this runtime's WebCrypto does the client's X-Wing (ML-KEM-768 natively, X25519
 * natively or via noble). Self-tested once per process (cached); null → use noble.
 */
export function nativeClientXWingSupport(): Promise<NativeClientXWingSupport | null> {
  return support ??= probeNativeClientXWing(globalThis.crypto?.subtle).catch((e) => {
    lastError = String((e as Error)?.message ?? e);
    return null;
  });
}

/** Why the native client KEM is not used (null when it is, or not decided yet). */
export function nativeClientXWingFallbackReason(): string | null {
  return lastError;
}

/** A fresh per-connection native client KEM, or null when the runtime has none (use noble). */
export async function nativeClientXWing(): Promise<NativeClientXWing | null> {
  const s = await nativeClientXWingSupport();
  return s ? new NativeClientXWing(s) : null;
}

/** Tests only: forget the cached decision (e.g. after replacing globalThis.crypto). */
export function resetNativeClientXWingSupport(): void {
  support = null;
  lastError = null;
}
