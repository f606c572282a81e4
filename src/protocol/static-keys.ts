/**
 * §8 Gateway static keys, key ids and pins.
 *
 * - key_id (default) = first 8 bytes of H("pqgate/1 key id" || pk)
 * - pin = "sha256:" || base64url(H(pk)), no padding
 */
import { ascii, type Bytes, concat, ctEqual, fromBase64Url, toBase64Url } from "./bytes.ts";
import { KEY_ID_LEN, XWING_PK_LEN, XWING_SEED_LEN } from "./constants.ts";
import { PqgateError } from "./errors.ts";
import { hash } from "./key-schedule.ts";
import { xwingNoble } from "./kem.ts";
import type { HybridKem, StaticKey } from "./types.ts";

export const PIN_PREFIX = "sha256:";
const KEY_ID_LABEL = ascii("pqgate/1 key id");

function checkPk(pk: Uint8Array): void {
  if (!(pk instanceof Uint8Array) || pk.length !== XWING_PK_LEN) {
    throw new PqgateError("internal_error", `publicKey: expected ${XWING_PK_LEN} bytes`);
  }
}

/** The default 8-byte key id of a public key (§8). */
export function keyIdFor(publicKey: Uint8Array): Bytes {
  checkPk(publicKey);
  return hash(concat(KEY_ID_LABEL, publicKey)).slice(0, KEY_ID_LEN);
}

/** The pin of a public key: "sha256:" + base64url(SHA-256(pk)) without padding (§8). */
export function pinFor(publicKey: Uint8Array): string {
  checkPk(publicKey);
  return PIN_PREFIX + toBase64Url(hash(publicKey));
}

/** The 32-byte digest a pin names, or null when the pin is malformed. */
export function parsePin(pin: string): Bytes | null {
  if (typeof pin !== "string" || !pin.startsWith(PIN_PREFIX)) return null;
  try {
    const d = fromBase64Url(pin.slice(PIN_PREFIX.length));
    return d.length === 32 ? d : null;
  } catch {
    return null;
  }
}

/**
 * True when `pin` names `publicKey`. The digest comparison is constant-time; a malformed pin
 * or public key is simply false.
 */
export function pinMatches(pin: string, publicKey: Uint8Array): boolean {
  const want = parsePin(pin);
  if (want === null || !(publicKey instanceof Uint8Array) || publicKey.length !== XWING_PK_LEN) {
    return false;
  }
  return ctEqual(want, hash(publicKey));
}

/**
 * A gateway static key from a 32-byte seed (the X-Wing secret key IS the seed). The key id is
 * the default one of §8 unless `keyId` is given.
 */
export function generateStaticKey(
  seed: Uint8Array,
  opts: { kem?: HybridKem; keyId?: Uint8Array } = {},
): StaticKey {
  if (!(seed instanceof Uint8Array) || seed.length !== XWING_SEED_LEN) {
    throw new PqgateError("internal_error", `seed: expected ${XWING_SEED_LEN} bytes`);
  }
  const kem = opts.kem ?? xwingNoble;
  const { publicKey, secretKey } = kem.keygen(seed);
  const keyId = opts.keyId ? new Uint8Array(opts.keyId) : keyIdFor(publicKey);
  if (keyId.length !== KEY_ID_LEN) {
    throw new PqgateError("internal_error", "keyId: expected 8 bytes");
  }
  return { keyId, publicKey: new Uint8Array(publicKey), secretKey: new Uint8Array(secretKey) };
}
