/**
 * §4.2 ExpandLabel and §4.4 traffic keys / KeyUpdate secrets (HKDF-SHA256).
 *
 * `expandLabel` is the generic helper of §4.2; the key schedule (key-schedule.ts) may reuse it
 * so that there is exactly one HkdfLabel encoder in the code base.
 */
import { expand } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { AEAD_IV_LEN, AEAD_KEY_LEN, LABEL_PREFIX } from "./constants.ts";
import { ascii, type Bytes } from "./bytes.ts";

const EMPTY = new Uint8Array(0);

/**
 * §4.2 `ExpandLabel(Secret, Label, Context, L) = HKDF-Expand(Secret, HkdfLabel, L)` with
 * `HkdfLabel = u16 L || u8 len(FullLabel) || FullLabel || u8 len(Context) || Context` and
 * `FullLabel = "pqgate1 " || Label`.
 */
export function expandLabel(
  secret: Uint8Array,
  label: string,
  context: Uint8Array,
  length: number,
): Bytes {
  if (!Number.isInteger(length) || length < 1 || length > 255 * 32) {
    throw new RangeError("expandLabel: length out of range");
  }
  const full = ascii(LABEL_PREFIX + label);
  if (full.length > 255) throw new RangeError("expandLabel: label too long");
  if (context.length > 255) throw new RangeError("expandLabel: context too long");
  const info = new Uint8Array(2 + 1 + full.length + 1 + context.length);
  info[0] = (length >>> 8) & 0xff;
  info[1] = length & 0xff;
  info[2] = full.length;
  info.set(full, 3);
  info[3 + full.length] = context.length;
  info.set(context, 4 + full.length);
  const out = expand(sha256, secret, info, length);
  // Copy into a fresh ArrayBuffer-backed array (project `Bytes` type).
  return Uint8Array.from(out);
}

/** §4.4 AEAD key and IV of one direction and epoch. */
export interface TrafficKeys {
  key: Bytes; // 32 bytes
  iv: Bytes; // 12 bytes
}

/** §4.4 `key = ExpandLabel(S, "key", "", 32)`, `iv = ExpandLabel(S, "iv", "", 12)`. */
export function trafficKeys(secret: Uint8Array): TrafficKeys {
  checkSecret(secret);
  return {
    key: expandLabel(secret, "key", EMPTY, AEAD_KEY_LEN),
    iv: expandLabel(secret, "iv", EMPTY, AEAD_IV_LEN),
  };
}

/** §4.4 `S_{e+1} = ExpandLabel(S_e, "traffic upd", "", 32)`. */
export function nextTrafficSecret(secret: Uint8Array): Bytes {
  checkSecret(secret);
  return expandLabel(secret, "traffic upd", EMPTY, 32);
}

function checkSecret(secret: Uint8Array): void {
  if (!(secret instanceof Uint8Array) || secret.length !== 32) {
    throw new TypeError("traffic secret must be 32 bytes");
  }
}
