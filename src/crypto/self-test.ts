/**
 * The one self-test every native X-Wing candidate passes before it is used, by the gateway's
 * selection (select.ts: the sync `CachedXWing` on node:crypto parts, the WebCrypto X-Wing) and
 * the client's (xwing-webcrypto.ts `selectWebCryptoXWing`): `selfTestXWing(candidate)` returns
 * the candidate or the reason it failed. It never throws.
 *
 * The reference is @noble/post-quantum's X-Wing (`xwingNoble`) on fixed inputs, its answers
 * stored below (`XWING_KAT`, recomputed with noble by self-test.test.ts) so that the check runs
 * no noble ML-KEM itself: a cold noble keygen + encapsulation costs 40-90 ms, the client's whole
 * self-test ~2 ms warm. What is checked, against noble's answers unless said otherwise:
 * - keygen: the public key of the fixed seed (SHA-256 compared; ML-KEM pk_M and X25519 pk_X);
 * - decapsulation of noble's ciphertext to that key, and of the same ciphertext with one bit of
 *   ct_M flipped (FIPS 203 implicit rejection, deterministic);
 * - a low-order ct_X (decapsulation) and a low-order pk_X (encapsulation) are refused;
 * - encapsulation with the fixed eseed: a `deterministic` candidate must return noble's
 *   ciphertext and secret byte for byte; any other (WebCrypto's encapsulateBits draws the ML-KEM
 *   message itself) must carry noble's ct_X (from eseed[32:64]) and decapsulate, by the
 *   candidate already proven on noble's ciphertext, to the secret it returned;
 * - the same for every `vectors` entry (tests/vectors/xwing-draft.json, when the caller passes
 *   them).
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { shake256 } from "@noble/hashes/sha3.js";
import { ascii, ctEqual, fromBase64Url, fromHex, toHex } from "../protocol/bytes.ts";
import { XWING_CT_LEN } from "../protocol/constants.ts";
import { MLKEM768_PK_LEN } from "../protocol/kem.ts";
import { MLKEM768_CT_LEN } from "./primitives.ts";

/** One X-Wing known-answer vector (tests/vectors/xwing-draft.json), hex fields. */
export interface XWingVector {
  seed: string;
  pk: string;
  eseed: string;
  ct: string;
  ss: string;
}

/** Fixed self-test inputs: derived, not random, so that a failure is reproducible. */
export function selfTestInput(label: string, n: number): Uint8Array {
  return shake256(ascii("pqgate crypto self-test " + label), { dkLen: n });
}

/** noble's answers for the fixed inputs (`xwingNoble`, @noble/post-quantum 0.7). */
export const XWING_KAT = {
  /** The key's seed. */
  seed: (): Uint8Array => selfTestInput("xwing seed", 32),
  /** The encapsulation's eseed. */
  eseed: (): Uint8Array => selfTestInput("xwing eseed", 64),
  /** SHA-256 of the public key of `seed`. */
  pkSha256: "f598f273b4238977dfd2fb00c53949e19849444fff46b1e78412466401924d76",
  /** `xwingNoble.encapsulate(pk, eseed).cipherText` (base64url) … */
  ct:
    "ukTlmY5tfxG6DoeFRfUhqY9_YZGX3dBZPkv3IklsCrMZV30ekfdK6M6QukS1O8RV_ebZKRNA2FU_Ljwv9bpOZgYJA3o2D2" +
    "v5fh68-lMJrDAV6H_spJ2fv2irMhXqwnp4mYYpveqO2TDEiCrmqgBDosDowgDStKatayLmivwwM_hFcAF5mM8wO-A5I6Ay" +
    "w_mIBTEGySkCkGgugYxu-aJbr1kSw_ta2KQrKHODuBq3pE-Q_Xon4FShFAkA_QmO7ig_rH9BwIBXDCD1rVURb_BjJ3tnsu" +
    "hQIGieKHuFflLg8XE3S8A70bdeFJqbH6UBVE4TDcGZxFR0VrqFpBJROE_7scJIUvVbKZcKH8Zg1Hv5zih-q4FtdHvpy2NE" +
    "oYNXYtLbJXGmEs1lcJwaOt8uRClJGZ59r4ezWuGCEgBs2pRJhufvw3sAYWoEHg1-w_zlgeCITfdzwfrLj81Q9Cd7eF9kVt" +
    "T0zstCGsy4cTaacaY7hGErCdz9GVJbbE8pfXXpRm4znRjyzwJlpj6i7bXXFOgnI7d20ao-Qpsiinz7ditxtG6B7R6ERBKK" +
    "9YQJ_DS9qECUTyCL0hjpXxaA6c0tto1d_oMRlcyR4C02e5II4RN7PAmP-qy8hHkKaPQ0eqvwXL-CuSSKaAT7wvauSOk1g1" +
    "xrxSQi_RGT5D51fWpgvEbZfKifltIZ1BoonFfJfkpAjKxdZeCPDwkY5XzvLO5oDYdXMCfdvw-CHCuWNYKoyrQhGejsYX_z" +
    "Gb5i9t3IOHsIdr9ITyoRO0gGHIp02m4rLPLW-eP0p7ltyZPLuzEn4feoCPHJbCDCNtk1PAYSK0xed9qXgqH_u3YyzQT1Pz" +
    "WgSqKEpOeCV_XlCfOyV0YZnWxJttpZFEd8BqW7KJxqaDIeiH-7WqIHy4EIWM2e-6Z55LIjHr9zK2jCD66Fc8ddOyY2Sq1D" +
    "zIa8f8m3ZdB0JyLvtbBgdMoiemsYazH6Y7CYwfb7BK-aBkMn8I6m9cXH5GMfW9PI6ln_HLKQIaTUBvm70eh8GexAuCVoKH" +
    "x34wa4koTDmLYB2Z-p4chOt0ohhW6R3TR9YgRGPtwhYrnxjCon55Ewj-nzy4OFlkPQOt5k-e_XjF4xgD68RJ4voQu1J3Lt" +
    "dDg83GNdPtTVcsPQfScBCJNKN7KIDd1Om_JmWWLd4ndIWtgyEvB195xtZicjQmCCWHJ52pZygZhVRkqPLDywNMXQisLXo0" +
    "F4DoK4tLAVYIUPXOnpezkZlENza9BLTHxOszS5n0WIJIKwEleeByrsN0qHWIXkuanen3EXqftYsVgnnOBJxHxWbLrV1-j8" +
    "0uWaduYgPmPOYQIsa2U5GSkBZj8gkZGiP-GnUwUcksKCerHMm2tU8xk0CH57WFFLU_o5DNdH8K1ikscnsD2tNgmqhRZEtW" +
    "EGnXpRolNvbcc1dGyE5RlcBPW4VubmA7fKS_3PQ3vBEk3AjFshPUEDeoaPiPxtzETwahP7TNDIDacEGdjbQQ",
  /** … its shared secret … */
  ss: "841888c6d4c8224378c9f51d818e4e136ccc4ae4a04df4ef4fd04c001df1fe1b",
  /** … and the decapsulation of `ct` with bit 0 of byte 0 flipped (implicit rejection). */
  ssRejected: "49212ed8f924ac7f00761328a3d757660f323f60869e779539533893a40a5e9c",
} as const;

type MaybePromise<T> = T | Promise<T>;

/** A candidate X-Wing, sync or async; its secret key is the seed or a native key object. */
export interface XWingCandidate<K> {
  readonly name: string;
  keygen(seed: Uint8Array): MaybePromise<{ publicKey: Uint8Array; secretKey: K }>;
  encapsulate(
    publicKey: Uint8Array,
    eseed: Uint8Array,
  ): MaybePromise<{ cipherText: Uint8Array; sharedSecret: Uint8Array }>;
  decapsulate(cipherText: Uint8Array, secretKey: K): MaybePromise<Uint8Array>;
}

export interface SelfTestOptions {
  /** Encapsulation is a function of eseed and must equal noble's byte for byte. */
  deterministic?: boolean;
  /** Extra known-answer vectors the candidate must pass. */
  vectors?: readonly XWingVector[];
}

/** The candidate, or why it must not be used. */
export type SelfTestResult<T> = { ok: true; kem: T } | { ok: false; reason: string };

function must(ok: boolean, what: string): void {
  if (!ok) throw new Error(what);
}

async function throws(f: () => unknown): Promise<boolean> {
  try {
    await f();
    return false;
  } catch {
    return true;
  }
}

interface Known {
  seed: Uint8Array;
  eseed: Uint8Array;
  ct: Uint8Array;
  ss: Uint8Array;
  /** Only for XWING_KAT: the public key's SHA-256 and the implicit-rejection secret. */
  pkSha256?: string;
  ssRejected?: string;
  pk?: Uint8Array;
}

/** keygen, decapsulations and encapsulation for one known answer; throws the first mismatch. */
async function check<K>(kem: XWingCandidate<K>, v: Known, deterministic: boolean): Promise<void> {
  const { publicKey, secretKey } = await kem.keygen(v.seed);
  must(
    v.pk ? ctEqual(publicKey, v.pk) : toHex(sha256(publicKey)) === v.pkSha256,
    "keygen: public key differs from noble",
  );
  const bad = new Uint8Array(v.ct);
  bad[0] ^= 1;
  const lowCt = new Uint8Array(v.ct);
  lowCt.fill(0, MLKEM768_CT_LEN);
  const lowPk = new Uint8Array(publicKey);
  lowPk.fill(0, MLKEM768_PK_LEN);
  const full = v.ssRejected !== undefined;
  const [ss, rejected, lowCtRefused, lowPkRefused, enc] = await Promise.all([
    kem.decapsulate(v.ct, secretKey),
    full ? kem.decapsulate(bad, secretKey) : null,
    full ? throws(() => kem.decapsulate(lowCt, secretKey)) : true,
    full ? throws(() => kem.encapsulate(lowPk, v.eseed)) : true,
    (async () => {
      const e = await kem.encapsulate(publicKey, v.eseed);
      return { ...e, decapsulated: await kem.decapsulate(e.cipherText, secretKey) };
    })(),
  ]);
  must(ctEqual(ss, v.ss), "decapsulation of noble's ciphertext differs");
  must(
    rejected === null || toHex(rejected) === v.ssRejected,
    "implicit rejection differs from noble",
  );
  must(lowCtRefused, "a low-order ct_X was accepted");
  must(lowPkRefused, "a low-order pk_X was accepted");
  must(enc.cipherText.length === XWING_CT_LEN, "encapsulation: ciphertext size");
  if (deterministic) {
    must(
      ctEqual(enc.cipherText, v.ct) && ctEqual(enc.sharedSecret, v.ss),
      "encapsulation differs from noble",
    );
  } else {
    must(
      ctEqual(enc.cipherText.subarray(MLKEM768_CT_LEN), v.ct.subarray(MLKEM768_CT_LEN)),
      "encapsulation: ct_X differs from noble",
    );
  }
  must(
    ctEqual(enc.decapsulated, enc.sharedSecret),
    "encapsulation does not decapsulate to its secret",
  );
}

/** Checks `kem` against noble (see the file comment): the candidate, or the reason it failed. */
export async function selfTestXWing<T extends XWingCandidate<unknown>>(
  kem: T,
  opts: SelfTestOptions = {},
): Promise<SelfTestResult<T>> {
  const deterministic = opts.deterministic ?? false;
  try {
    await check(kem, {
      seed: XWING_KAT.seed(),
      eseed: XWING_KAT.eseed(),
      ct: fromBase64Url(XWING_KAT.ct),
      ss: fromHex(XWING_KAT.ss),
      pkSha256: XWING_KAT.pkSha256,
      ssRejected: XWING_KAT.ssRejected,
    }, deterministic);
    for (const v of opts.vectors ?? []) {
      const known = {
        seed: fromHex(v.seed),
        eseed: fromHex(v.eseed),
        ct: fromHex(v.ct),
        ss: fromHex(v.ss),
        pk: fromHex(v.pk),
      };
      await check(kem, known, deterministic).catch((e) => {
        throw new Error(`vector: ${(e as Error)?.message ?? e}`);
      });
    }
    return { ok: true, kem };
  } catch (e) {
    return { ok: false, reason: String((e as Error)?.message ?? e) };
  }
}
