/**
 * Start-up selection of the crypto backends. Every native candidate must pass a known-answer
 * self-test against noble (and against the X-Wing draft vectors when the caller passes them)
 * before it is used; any mismatch or exception falls back to noble for that piece, and the
 * reason lands in `report.fallbacks`.
 *
 *   const b = await selectBackends({ staticKeys });
 *   new ServerSession({ ..., kem: b.forConnection() });   // + `await kem.prepareServer?.(ch)`
 *   new RecordLayer({ ..., aead: b.aead });
 *
 * What is checked, per piece:
 * - X25519 (node:crypto): public key and shared secret equal to noble on fixed inputs, both
 *   low-order points (u = 0, 1) rejected, the prepared-secret and one-import ephemeral paths
 *   equal too (the latter also rejects both low-order points).
 * - SHA3-256 (node:crypto): equal to noble on several lengths.
 * - X-Wing assembled (CachedXWing): keygen, encapsulate (deterministic from eseed) and
 *   decapsulate byte-identical to `xwingNoble`, for a registered (cached) and an unregistered
 *   key, on a valid and on a tampered ciphertext (implicit rejection); plus `vectors`.
 * - ML-KEM-768 (WebCrypto): the native key from seed d||z has noble's pk_M (where the runtime
 *   has getPublicKey); native decaps of a noble ciphertext = noble's ss (also for a tampered
 *   ciphertext: FIPS 203 implicit rejection is deterministic); noble decaps of a native
 *   encapsulation = native ss; an end-to-end prepared X-Wing decapsulation equals noble's.
 * - AEAD (node:crypto): seal byte-identical to noble on several lengths, open round-trips,
 *   a flipped tag bit → null; then a short timing picks the faster of native and noble per
 *   suite (`timeAead: false` keeps native whenever it passed).
 */
import { x25519 as nobleCurve } from "@noble/curves/ed25519.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { aes256gcm, chacha20poly1305 } from "../protocol/aead.ts";
import { ascii, fromHex } from "../protocol/bytes.ts";
import {
  SUITE_XWING_AES256GCM,
  SUITE_XWING_CHACHA20POLY1305,
  type SuiteId,
} from "../protocol/constants.ts";
import { PqgateError } from "../protocol/errors.ts";
import { xwingNoble } from "../protocol/kem.ts";
import type { Aead, HybridKem, StaticKey } from "../protocol/types.ts";
import { nodeAead } from "./aead-node.ts";
import {
  type HashOps,
  loadNodeCrypto,
  nobleSha3,
  nobleX25519,
  type NodeCrypto,
  nodeHashes,
  nodeSha3,
  nodeX25519,
  type Sha3,
  type X25519Ops,
} from "./primitives.ts";
import { CachedXWing, MLKEM768_CT_LEN } from "./xwing.ts";
import { WebCryptoMlKem, WebCryptoXWingBackend } from "./xwing-webcrypto.ts";
import { shake256 } from "@noble/hashes/sha3.js";
import { ml_kem768 } from "@noble/post-quantum/ml-kem.js";

/** One X-Wing known-answer vector (tests/vectors/xwing-draft.json), hex fields. */
export interface XWingVector {
  seed: string;
  pk: string;
  eseed: string;
  ct: string;
  ss: string;
}

export interface SelectOptions {
  /** "noble": use no native code at all (the fallback path, forced). */
  force?: "noble";
  /** Turn single native candidates off (tests, or to work around a runtime bug). */
  disable?: {
    webcryptoMlKem?: boolean;
    nodeX25519?: boolean;
    nodeSha3?: boolean;
    nodeAead?: boolean;
    nodeHash?: boolean;
  };
  /** Gateway static keys to pre-expand / pre-import (cached for every handshake). */
  staticKeys?: readonly StaticKey[];
  /** Extra known-answer vectors every X-Wing candidate must pass. */
  vectors?: readonly XWingVector[];
  /** Time native vs noble AEAD per suite and keep the faster (default true). */
  timeAead?: boolean;
  /** Test hook: replaces node:crypto (e.g. with a deliberately broken one). */
  nodeCrypto?: NodeCrypto | null;
}

/** A per-connection KEM; `prepareServer` exists when native async ML-KEM is in use. */
export type ConnectionKem = HybridKem & { prepareServer?(clientHello: Uint8Array): Promise<void> };

export interface BackendReport {
  kem: string;
  /** The per-connection (prepared, native ML-KEM) KEM, or null when not available. */
  prepared: string | null;
  x25519: string;
  sha3: string;
  aead: Record<string, string>;
  hash: string;
  /** Candidates that failed a self-test or threw, with the reason. */
  fallbacks: string[];
  /** Milliseconds the selection took. */
  ms: number;
}

export interface Backends {
  /** Synchronous deterministic X-Wing (honours eseed fully): vectors, clients, fallback. */
  kem: HybridKem;
  /** A KEM for one gateway connection: prepared native ML-KEM where available, else `kem`. */
  forConnection(): ConnectionKem;
  /** The AEAD of a suite (for RecordLayer's `aead` option). */
  aead: (suite: SuiteId) => Aead;
  /** Native SHA-256/HMAC/HKDF that passed its self-test (for the proposed core hook), or null. */
  hash: HashOps | null;
  /** Registers more static keys later (key rotation). */
  addStaticKeys(keys: readonly StaticKey[]): Promise<void>;
  report: BackendReport;
}

// ---- fixed self-test inputs (derived, not random: failures must be reproducible) ----------
function det(label: string, n: number): Uint8Array {
  return shake256(ascii("pqgate crypto self-test " + label), { dkLen: n });
}

function eq(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function must(ok: boolean, what: string): void {
  if (!ok) throw new Error(what);
}

function checkX25519(x: X25519Ops): void {
  for (let i = 0; i < 3; i++) {
    const a = det(`x a${i}`, 32), b = det(`x b${i}`, 32);
    const pb = nobleCurve.getPublicKey(b);
    must(eq(x.publicKey(a), nobleCurve.getPublicKey(a)), "x25519 public key differs");
    must(
      eq(x.sharedSecret(a, pb), nobleCurve.getSharedSecret(a, pb)),
      "x25519 shared secret differs",
    );
    if (x.prepareSecret) {
      must(
        eq(x.prepareSecret(a).sharedSecret(pb), nobleCurve.getSharedSecret(a, pb)),
        "x25519 prepared differs",
      );
    }
    if (x.ephemeral) {
      const e = x.ephemeral(a, pb);
      must(
        eq(e.sharedSecret, nobleCurve.getSharedSecret(a, pb)) &&
          eq(e.publicKey, nobleCurve.getPublicKey(a)),
        "x25519 ephemeral differs",
      );
    }
  }
  for (const u of [0, 1]) {
    const lo = new Uint8Array(32);
    lo[0] = u;
    let threw = false;
    try {
      x.sharedSecret(det("x lo", 32), lo);
    } catch {
      threw = true;
    }
    must(threw, `x25519 low-order point u=${u} accepted`);
    if (x.ephemeral) {
      threw = false;
      try {
        x.ephemeral(det("x lo", 32), lo);
      } catch {
        threw = true;
      }
      must(threw, `x25519 ephemeral: low-order point u=${u} accepted`);
    }
  }
}

function checkSha3(h: Sha3): void {
  for (const n of [0, 1, 135, 136, 137, 1000]) {
    const m = det(`sha3 ${n}`, Math.max(n, 1)).subarray(0, n);
    must(eq(h(m.subarray(0, n >> 1), m.subarray(n >> 1)), nobleSha3(m)), "sha3-256 differs");
  }
}

/** X-Wing candidate vs xwingNoble (and vectors): keygen, encaps, decaps incl. implicit rejection. */
function checkXWing(kem: CachedXWing, vectors: readonly XWingVector[]): void {
  const seed = det("xwing seed", 32), eseed = det("xwing eseed", 64);
  const ref = xwingNoble.keygen(seed);
  must(eq(kem.keygen(seed).publicKey, ref.publicKey), "xwing keygen differs");
  const e1 = xwingNoble.encapsulate(ref.publicKey, eseed);
  const e2 = kem.encapsulate(ref.publicKey, eseed);
  must(
    eq(e1.cipherText, e2.cipherText) && eq(e1.sharedSecret, e2.sharedSecret),
    "xwing encapsulate differs",
  );
  const bad = new Uint8Array(e1.cipherText);
  bad[5] ^= 1;
  const probe = new CachedXWing({ x25519: kem.x25519, sha3: kem.sha3 });
  probe.addStaticKeys([{ keyId: new Uint8Array(8), publicKey: ref.publicKey, secretKey: seed }]);
  for (const k of [kem, probe]) {
    must(eq(k.decapsulate(e1.cipherText, seed), e1.sharedSecret), "xwing decapsulate differs");
    must(
      eq(k.decapsulate(bad, seed), xwingNoble.decapsulate(bad, seed)),
      "xwing implicit rejection differs",
    );
  }
  probe.clearStaticKeys();
  for (const v of vectors) {
    const s = fromHex(v.seed), pk = fromHex(v.pk), ct = fromHex(v.ct), ss = fromHex(v.ss);
    must(eq(kem.keygen(s).publicKey, pk), "xwing vector: pk differs");
    const e = kem.encapsulate(pk, fromHex(v.eseed));
    must(eq(e.cipherText, ct) && eq(e.sharedSecret, ss), "xwing vector: encapsulation differs");
    must(eq(kem.decapsulate(ct, s), ss), "xwing vector: decapsulation differs");
  }
}

async function checkWebCrypto(w: WebCryptoMlKem): Promise<void> {
  const dz = det("mlkem dz", 64);
  const ref = ml_kem768.keygen(dz);
  const key = await w.importSeed(dz);
  try {
    must(eq(await w.publicKeyOf(dz), ref.publicKey), "ML-KEM native public key differs");
  } catch (e) {
    // getPublicKey is optional in the draft API; a mismatch is not.
    if (e instanceof Error && e.message.includes("differs")) throw e;
  }
  const enc = ml_kem768.encapsulate(ref.publicKey, det("mlkem m", 32));
  must(
    eq(await w.decapsulate(key, enc.cipherText), enc.sharedSecret),
    "ML-KEM native decaps differs",
  );
  const bad = new Uint8Array(enc.cipherText);
  bad[0] ^= 1;
  must(
    eq(await w.decapsulate(key, bad), ml_kem768.decapsulate(bad, ref.secretKey)),
    "ML-KEM native implicit rejection differs",
  );
  const n = await w.encapsulate(ref.publicKey);
  must(n.ctM.length === MLKEM768_CT_LEN, "ML-KEM native ciphertext size");
  must(
    eq(ml_kem768.decapsulate(n.ctM, ref.secretKey), n.ssM),
    "ML-KEM native encaps does not decapsulate",
  );
  // End to end through the prepared per-connection KEM: checkPrepared.
}

const AEAD_NOBLE: Record<SuiteId, Aead> = {
  [SUITE_XWING_AES256GCM]: aes256gcm,
  [SUITE_XWING_CHACHA20POLY1305]: chacha20poly1305,
};

function checkAead(cand: Aead, ref: Aead): void {
  const key = det("aead key", 32), nonce = det("aead nonce", 12);
  for (const n of [0, 1, 15, 16, 17, 1000, 16384]) {
    const pt = det(`aead pt ${n}`, Math.max(n, 1)).subarray(0, n);
    const aad = det(`aead aad ${n}`, 10).subarray(0, n % 11);
    const c1 = ref.seal(key, nonce, aad, pt), c2 = cand.seal(key, nonce, aad, pt);
    must(eq(c1, c2), "AEAD seal differs");
    const o = cand.open(key, nonce, aad, c1);
    must(o !== null && eq(o, pt), "AEAD open failed");
    const t = new Uint8Array(c1);
    t[t.length - 1] ^= 1;
    must(cand.open(key, nonce, aad, t) === null, "AEAD accepted a bad tag");
  }
  must(
    cand.open(key, nonce, new Uint8Array(0), new Uint8Array(15)) === null,
    "AEAD short ciphertext",
  );
}

function timeSeal(a: Aead, reps: number): number {
  const key = det("aead key", 32), nonce = det("aead nonce", 12), aad = new Uint8Array(10);
  const pt = new Uint8Array(16384);
  a.seal(key, nonce, aad, pt);
  const t = performance.now();
  for (let i = 0; i < reps; i++) a.seal(key, nonce, aad, pt);
  return performance.now() - t;
}

function checkHashes(h: HashOps): void {
  // RFC 4231 test case 2 and RFC 5869 test case 1.
  const mac = h.hmacSha256(ascii("Jefe"), ascii("what do ya want for nothing?"));
  must(
    eq(mac, fromHex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")),
    "HMAC differs",
  );
  const prk = h.hkdfExtract(fromHex("000102030405060708090a0b0c"), fromHex("0b".repeat(22)));
  must(
    eq(prk, fromHex("077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5")),
    "HKDF-Extract differs",
  );
  const okm = h.hkdfExpand(prk, fromHex("f0f1f2f3f4f5f6f7f8f9"), 42);
  must(
    eq(
      okm,
      fromHex(
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
      ),
    ),
    "HKDF-Expand differs",
  );
  must(eq(h.sha256(ascii("ab"), ascii("c")), sha256(ascii("abc"))), "SHA-256 differs");
}

/**
 * Picks the fastest backends that pass their self-tests. Never throws for a failing
 * candidate (it falls back to noble); throws `internal_error` only if a static key is
 * inconsistent (its public key is not derived from its seed).
 */
export async function selectBackends(opts: SelectOptions = {}): Promise<Backends> {
  const t0 = performance.now();
  const fallbacks: string[] = [];
  const off = opts.disable ?? {};
  const forced = opts.force === "noble";
  const nc = forced ? null : ("nodeCrypto" in opts ? opts.nodeCrypto : await loadNodeCrypto());
  if (!forced && !nc) fallbacks.push("node:crypto: not available");

  function tryNative<T>(
    what: string,
    disabled: boolean | undefined,
    make: () => T,
    check: (v: T) => void,
  ): T | null {
    if (forced || !nc || disabled) return null;
    try {
      const v = make();
      check(v);
      return v;
    } catch (e) {
      fallbacks.push(`${what}: ${e instanceof Error ? e.message : String(e)}`);
      return null;
    }
  }

  const vectors = opts.vectors ?? [];
  const x = tryNative("x25519 node:crypto", off.nodeX25519, () => nodeX25519(nc), checkX25519);
  const h3 = tryNative("sha3-256 node:crypto", off.nodeSha3, () => nodeSha3(nc), checkSha3);
  const hash = tryNative(
    "sha-256/hmac/hkdf node:crypto",
    off.nodeHash,
    () => nodeHashes(nc),
    checkHashes,
  );

  // X-Wing: the assembled native candidate, else the same class on noble parts (still cached),
  // else xwingNoble itself. `force: "noble"` is exactly the core's default (xwingNoble).
  let sync: CachedXWing | null = null;
  const candidates = forced ? [] : [{ x25519: x ?? nobleX25519, sha3: h3 ?? nobleSha3 }, {}];
  for (const parts of candidates) {
    const k = new CachedXWing(parts);
    try {
      checkXWing(k, vectors);
      sync = k;
      break;
    } catch (e) {
      fallbacks.push(`${k.name}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  const kem: HybridKem = sync ?? xwingNoble;

  let web: WebCryptoXWingBackend | null = null;
  if (sync && !off.webcryptoMlKem) {
    const w = WebCryptoMlKem.create();
    if (!w) {
      fallbacks.push("ML-KEM WebCrypto: not available in this runtime");
    } else {
      try {
        await checkWebCrypto(w);
        // Shares `sync` (and so its static-key cache). checkPrepared registers and then clears a
        // throw-away key before any real static key is added.
        const candidate = new WebCryptoXWingBackend(sync, w);
        await checkPrepared(candidate);
        web = candidate;
      } catch (e) {
        fallbacks.push(`ML-KEM WebCrypto: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }

  async function addStaticKeys(keys: readonly StaticKey[]): Promise<void> {
    if (web) await web.addStaticKeys(keys); // registers in web.sync too
    if (sync && sync !== web?.sync) sync.addStaticKeys(keys);
  }
  if (opts.staticKeys?.length) await addStaticKeys(opts.staticKeys);

  // AEAD per suite.
  const aeads: Record<SuiteId, Aead> = { ...AEAD_NOBLE };
  const aeadReport: Record<string, string> = {};
  for (
    const [suite, alg] of [
      [SUITE_XWING_AES256GCM, "aes-256-gcm"],
      [SUITE_XWING_CHACHA20POLY1305, "chacha20-poly1305"],
    ] as const
  ) {
    const ref = AEAD_NOBLE[suite];
    const cand = tryNative(
      `${alg} node:crypto`,
      off.nodeAead,
      () => nodeAead(nc, alg),
      (a) => checkAead(a, ref),
    );
    let pick = ref, why = "noble";
    if (cand) {
      if (opts.timeAead === false) {
        pick = cand;
        why = "node:crypto";
      } else {
        const tn = timeSeal(cand, 8), tr = timeSeal(ref, 8);
        pick = tn <= tr ? cand : ref;
        why = `${pick === cand ? "node:crypto" : "noble"} (16 KiB seal: native ${
          (tn * 125).toFixed(0)
        } µs, noble ${(tr * 125).toFixed(0)} µs)`;
      }
    }
    aeads[suite] = pick;
    aeadReport[alg] = why;
  }
  const aead = (suite: SuiteId): Aead => {
    const a = aeads[suite];
    if (!a) throw new PqgateError("internal_error", "unknown suite");
    return a;
  };

  return {
    kem,
    forConnection: () => (web ? web.forConnection() : kem),
    aead,
    hash,
    addStaticKeys,
    report: {
      kem: kem.name,
      prepared: web ? web.name : null,
      x25519: sync ? sync.x25519.name : "noble",
      sha3: !sync || sync.sha3 === nobleSha3 ? "noble" : "node:crypto",
      aead: aeadReport,
      hash: hash ? hash.name : "noble (core)",
      fallbacks,
      ms: Math.round((performance.now() - t0) * 10) / 10,
    },
  };
}

/**
 * End-to-end check of the prepared path with a synthetic pinned ClientHello: the prepared
 * decapsulation must equal noble's; a prepared encapsulation must decapsulate (with noble) to
 * the same shared secret and carry the X25519 half derived from eseed[32:64].
 */
async function checkPrepared(b: WebCryptoXWingBackend): Promise<void> {
  const { encodeClientHello } = await import("../protocol/hello.ts");
  const { AUTH_PINNED } = await import("../protocol/constants.ts");
  const sSeed = det("prep static", 32), cSeed = det("prep client", 32);
  const sKey = xwingNoble.keygen(sSeed), cKey = xwingNoble.keygen(cSeed);
  const keyId = det("prep keyid", 8);
  const ctS = xwingNoble.encapsulate(sKey.publicKey, det("prep eseed s", 64));
  await b.addStaticKeys([{ keyId, publicKey: sKey.publicKey, secretKey: sSeed }]);
  try {
    const ch = encodeClientHello({
      authMode: AUTH_PINNED,
      suites: [SUITE_XWING_AES256GCM],
      clientRandom: det("prep random", 32),
      keyId,
      ekC: cKey.publicKey,
      ctS: ctS.cipherText,
      extensions: [],
    });
    const kem = b.forConnection();
    await kem.prepareServer(ch);
    must(
      eq(kem.decapsulate(ctS.cipherText, sSeed), ctS.sharedSecret),
      "prepared decapsulation differs",
    );
    must(kem.used.decapsulate === 1, "prepared decapsulation not used");
    const eseed = det("prep eseed e", 64);
    const r = kem.encapsulate(cKey.publicKey, eseed);
    must(kem.used.encapsulate === 1, "prepared encapsulation not used");
    must(
      eq(xwingNoble.decapsulate(r.cipherText, cSeed), r.sharedSecret),
      "prepared encapsulation does not decapsulate",
    );
    must(
      eq(r.cipherText.subarray(MLKEM768_CT_LEN), nobleCurve.getPublicKey(eseed.subarray(32))),
      "prepared ct_X differs",
    );
  } finally {
    b.clearStaticKeys();
  }
}
