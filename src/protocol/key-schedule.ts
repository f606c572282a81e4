/**
 * §4 Key schedule: HKDF-SHA256 with a TLS 1.3-style ExpandLabel ("pqgate1 " prefix), the
 * handshake secrets, Finished MACs, traffic keys, KeyUpdate, exporter and session id.
 * Synchronous (noble hashes): small HKDF calls are cheaper than async WebCrypto round trips.
 *
 * Misuse by local code (bad lengths, over-long labels) throws PqgateError("internal_error").
 */
import { expand, extract } from "@noble/hashes/hkdf.js";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { ascii, type Bytes, ctEqual } from "./bytes.ts";
import { expandLabel, nextTrafficSecret, trafficKeys } from "./traffic-keys.ts";
import {
  FINISHED_LEN,
  LABEL_PREFIX,
  PROTOCOL_NAMES,
  PSK_LEN,
  type SuiteId,
  XWING_SS_LEN,
} from "./constants.ts";
import { PqgateError } from "./errors.ts";
import type { SessionKeys } from "./types.ts";

export const HASH_LEN = 32;
export const SESSION_ID_LEN = 16;

function own(b: Uint8Array): Bytes {
  return new Uint8Array(b);
}

function misuse(detail: string): never {
  throw new PqgateError("internal_error", detail);
}

/** H(x) = SHA-256 of the concatenation of `parts` (§1). */
export function hash(...parts: Uint8Array[]): Bytes {
  const h = sha256.create();
  for (const p of parts) h.update(p);
  return own(h.digest());
}

/** E = H("") (§4.2). */
export const EMPTY_HASH: Bytes = hash();
/** Z = 32 zero bytes (§4.2). */
const ZERO: Bytes = new Uint8Array(HASH_LEN);

/** HMAC-SHA256. */
export function hmacSha256(key: Uint8Array, msg: Uint8Array): Bytes {
  return own(hmac(sha256, key, msg));
}

/** HKDF-Extract (RFC 5869) with SHA-256. */
export function hkdfExtract(salt: Uint8Array, ikm: Uint8Array): Bytes {
  return own(extract(sha256, ikm, salt));
}

/** HKDF-Expand (RFC 5869) with SHA-256. */
export function hkdfExpand(prk: Uint8Array, info: Uint8Array, length: number): Bytes {
  if (prk.length < HASH_LEN) misuse("hkdfExpand: prk too short");
  if (!Number.isInteger(length) || length < 1 || length > 255 * HASH_LEN) {
    misuse("hkdfExpand: bad length");
  }
  return own(expand(sha256, prk, info, length));
}

/**
 * ExpandLabel (§4.2), traffic keys and KeyUpdate (§4.4) live in traffic-keys.ts so that there
 * is exactly one HkdfLabel encoder; they are re-exported here for the handshake's convenience.
 */
export { expandLabel, nextTrafficSecret, trafficKeys };

/** DeriveSecret(Secret, Label, th) = ExpandLabel(Secret, Label, th, 32) (§4.2). */
export function deriveSecret(secret: Uint8Array, label: string, th: Uint8Array): Bytes {
  return expandLabel(secret, label, th, HASH_LEN);
}

/** ck0 = H(protocol_name(suite)) (§4.2). */
export function initialChainingKey(suite: SuiteId): Bytes {
  const name = PROTOCOL_NAMES[suite];
  if (name === undefined) misuse("unknown suite");
  return hash(ascii(name));
}

/** th1 = H(CH || SH*) and th2 = H(CH || SH) (§4.1). */
export function transcriptHash(clientHello: Uint8Array, serverHelloPart: Uint8Array): Bytes {
  return hash(clientHello, serverHelloPart);
}

/**
 * th1 and th2 (§4.1) in one pass: th2's input extends th1's (CH || SH* || server_finished), so
 * the running SHA-256 state after CH || SH* is cloned for th1 and then continued for th2 —
 * the 2-3 KiB ClientHello is hashed once, not twice. Equal to two `transcriptHash` calls.
 */
export function transcriptHashes(
  clientHello: Uint8Array,
  serverHelloPart: Uint8Array,
): { th1: Bytes; next(serverFinished: Uint8Array): Bytes } {
  const h = sha256.create().update(clientHello).update(serverHelloPart);
  const th1 = own(h.clone().digest());
  let done = false;
  return {
    th1,
    next(serverFinished: Uint8Array): Bytes {
      if (done) misuse("transcriptHashes: next() called twice");
      done = true;
      return own(h.update(serverFinished).digest());
    },
  };
}

/**
 * hs2 (§4.2) from the suite and both KEM shared secrets. In anonymous mode pass `ssS = null`
 * (Z is used). With a `psk` (§3.4.1, 32 bytes) it is mixed in first:
 * `k0 = HKDF-Extract(salt = ck0, IKM = psk)`, `hs1 = HKDF-Extract(salt = k0, IKM = ss_S)`.
 */
export function handshakeSecret(
  suite: SuiteId,
  ssS: Uint8Array | null,
  ssE: Uint8Array,
  psk: Uint8Array | null = null,
): Bytes {
  if (ssS !== null && ssS.length !== XWING_SS_LEN) misuse("ssS: expected 32 bytes");
  if (ssE.length !== XWING_SS_LEN) misuse("ssE: expected 32 bytes");
  if (psk !== null && psk.length !== PSK_LEN) misuse("psk: expected 32 bytes");
  const ck0 = initialChainingKey(suite);
  const k0 = psk === null ? null : hkdfExtract(ck0, psk);
  const hs1 = hkdfExtract(k0 ?? ck0, ssS ?? ZERO);
  k0?.fill(0);
  const salt2 = deriveSecret(hs1, "derived", EMPTY_HASH);
  const hs2 = hkdfExtract(salt2, ssE);
  hs1.fill(0);
  salt2.fill(0);
  return hs2;
}

/** s_fin = ExpandLabel(hs2, "s finished", th1, 32) (§4.2). */
export function serverFinishedKey(hs2: Uint8Array, th1: Uint8Array): Bytes {
  return expandLabel(hs2, "s finished", th1, HASH_LEN);
}

/** c_fin = ExpandLabel(hs2, "c finished", th2, 32) (§4.2). */
export function clientFinishedKey(hs2: Uint8Array, th2: Uint8Array): Bytes {
  return expandLabel(hs2, "c finished", th2, HASH_LEN);
}

/** server_finished = HMAC(s_fin, th1); client_finished = HMAC(c_fin, th2) (§4.3). */
export function finishedMac(finKey: Uint8Array, th: Uint8Array): Bytes {
  return hmacSha256(finKey, th);
}

/** Constant-time Finished comparison (§4.3). */
export function verifyFinished(expected: Uint8Array, received: Uint8Array): boolean {
  return received.length === FINISHED_LEN && ctEqual(expected, received);
}

/** session_id = ExpandLabel(exp, "session id", "", 16) (§4.2). */
export function sessionIdFrom(exporterSecret: Uint8Array): Bytes {
  return expandLabel(exporterSecret, "session id", new Uint8Array(0), SESSION_ID_LEN);
}

/** ms, c_ap_0, s_ap_0, exp, session_id (§4.2) → the SessionKeys the record layer consumes. */
export function deriveSessionKeys(suite: SuiteId, hs2: Uint8Array, th2: Uint8Array): SessionKeys {
  const salt = deriveSecret(hs2, "derived", EMPTY_HASH);
  const ms = hkdfExtract(salt, ZERO);
  salt.fill(0);
  const keys: SessionKeys = {
    suite,
    clientSecret: deriveSecret(ms, "c ap traffic", th2),
    serverSecret: deriveSecret(ms, "s ap traffic", th2),
    exporterSecret: deriveSecret(ms, "exp master", th2),
    sessionId: new Uint8Array(0),
    transcriptHash: own(th2),
  };
  keys.sessionId = sessionIdFrom(keys.exporterSecret);
  ms.fill(0);
  return keys;
}

/**
 * Exporter (§4.5): ExpandLabel(DeriveSecret(exp, label, E), "exporter", H(context), L).
 * `label` is ASCII and at most 247 characters (255 minus the "pqgate1 " prefix); `length` is
 * 1..8160. Misuse throws `internal_error`.
 */
export function exportKeyingMaterial(
  exporterSecret: Uint8Array,
  label: string,
  context: Uint8Array,
  length: number,
): Bytes {
  if (
    typeof label !== "string" || ![...label].every((ch) => ch.charCodeAt(0) <= 0x7f) ||
    label.length + LABEL_PREFIX.length > 255
  ) {
    misuse("exporter label: ASCII, at most 247 characters");
  }
  if (!Number.isInteger(length) || length < 1 || length > 255 * HASH_LEN) {
    misuse("exporter length out of range");
  }
  if (!(context instanceof Uint8Array)) misuse("exporter context: bytes required");
  const s = deriveSecret(exporterSecret, label, EMPTY_HASH);
  const out = expandLabel(s, "exporter", hash(context), length);
  s.fill(0);
  return out;
}
