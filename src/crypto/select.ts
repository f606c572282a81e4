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
 * - X-Wing, the sync `CachedXWing` on those parts (deterministic: byte-identical to noble) and
 *   the native `WebCryptoXWing` (ML-KEM WebCrypto, the same X25519 and SHA3): `selfTestXWing`
 *   (self-test.ts), the one X-Wing self-test the client runs too; the sync one also with a
 *   registered (cached) key and the `vectors`.
 * - AEAD (node:crypto): seal byte-identical to noble on several lengths, open round-trips,
 *   a flipped tag bit → null; then a short timing picks the faster of native and noble per
 *   suite (`timeAead: false` keeps native whenever it passed).
 */
import { x25519 as nobleCurve } from "@noble/curves/ed25519.js";
import { aes256gcm, chacha20poly1305 } from "../protocol/aead.ts";
import { ctEqual as eq } from "../protocol/bytes.ts";
import {
  SUITE_XWING_AES256GCM,
  SUITE_XWING_CHACHA20POLY1305,
  type SuiteId,
} from "../protocol/constants.ts";
import { PqgateError } from "../protocol/errors.ts";
import { xwingNoble } from "../protocol/kem.ts";
import type { Aead, HybridKem, StaticKey } from "../protocol/types.ts";
import { nodeAead } from "./aead-node.ts";
import { loadNodeCrypto, type NodeCrypto, nodeSha3, nodeX25519 } from "./node-crypto.ts";
import { nobleSha3, nobleX25519, type Sha3, type X25519Ops } from "./primitives.ts";
import { selfTestInput as det, selfTestXWing, XWING_KAT, type XWingVector } from "./self-test.ts";
import { CachedXWing } from "./xwing.ts";
import { asyncX25519, selectWebCryptoXWing } from "./xwing-webcrypto.ts";
import { WebCryptoXWingBackend } from "./xwing-webcrypto-server.ts";

export type { XWingVector };

export interface SelectOptions {
  /** "noble": use no native code at all (the fallback path, forced). */
  force?: "noble";
  /** Turn single native candidates off (tests, or to work around a runtime bug). */
  disable?: {
    webcryptoMlKem?: boolean;
    nodeX25519?: boolean;
    nodeSha3?: boolean;
    nodeAead?: boolean;
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
  /** Registers more static keys later (key rotation). */
  addStaticKeys(keys: readonly StaticKey[]): Promise<void>;
  report: BackendReport;
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

/** The sync X-Wing: `selfTestXWing` on `kem` and on a copy with the test key registered. */
async function checkXWing(kem: CachedXWing, vectors: readonly XWingVector[]): Promise<void> {
  const cached = new CachedXWing({ x25519: kem.x25519, sha3: kem.sha3 });
  const seed = XWING_KAT.seed();
  const publicKey = cached.keygen(seed).publicKey; // checked by the self-test
  cached.addStaticKeys([{ keyId: new Uint8Array(8), publicKey, secretKey: seed }]);
  try {
    for (const [k, v] of [[kem, vectors], [cached, []]] as const) {
      const r = await selfTestXWing(k, { deterministic: true, vectors: v });
      if (!r.ok) throw new Error(r.reason);
    }
  } finally {
    cached.clearStaticKeys();
  }
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

  // X-Wing: the assembled native candidate, else the same class on noble parts (still cached),
  // else xwingNoble itself. `force: "noble"` runs only noble code too, but with the static key
  // expanded once (the cached class on noble parts) rather than in every handshake: the same
  // bytes out (tests), ~26% less CPU per handshake, and the fallback a runtime without native
  // crypto gets anyway.
  let sync: CachedXWing | null = null;
  const candidates = forced ? [{}] : [{ x25519: x ?? nobleX25519, sha3: h3 ?? nobleSha3 }, {}];
  for (const parts of candidates) {
    const k = new CachedXWing(parts);
    try {
      await checkXWing(k, vectors);
      sync = k;
      break;
    } catch (e) {
      fallbacks.push(`${k.name}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  const kem: HybridKem = sync ?? xwingNoble;

  // Native ML-KEM on the same X25519 and SHA3, with `sync` as its fallback (and cache).
  let web: WebCryptoXWingBackend | null = null;
  if (sync && !forced && !off.webcryptoMlKem) {
    const r = await selectWebCryptoXWing({
      x25519: [asyncX25519(sync.x25519)],
      sha3: sync.sha3,
      sync,
    });
    web = r.kem && new WebCryptoXWingBackend(r.kem);
    fallbacks.push(...r.fallbacks);
  }

  async function addStaticKeys(keys: readonly StaticKey[]): Promise<void> {
    if (web) await web.addStaticKeys(keys); // registers in web.sync too
    if (sync && sync !== web?.xw.sync) sync.addStaticKeys(keys);
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
    addStaticKeys,
    report: {
      kem: kem.name,
      prepared: web ? web.name : null,
      x25519: sync ? sync.x25519.name : "noble",
      sha3: !sync || sync.sha3 === nobleSha3 ? "noble" : "node:crypto",
      aead: aeadReport,
      fallbacks,
      ms: Math.round((performance.now() - t0) * 10) / 10,
    },
  };
}
