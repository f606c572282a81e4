/**
 * §2 / §5.1 The two suites' AEADs (AES-256-GCM, ChaCha20-Poly1305) on @noble/ciphers.
 * Synchronous. `open` returns null on any authentication failure and never throws for
 * peer-controlled input (ciphertext, AAD); a wrong key or nonce LENGTH is a caller bug and
 * throws TypeError.
 */
import { gcm } from "@noble/ciphers/aes.js";
import { chacha20poly1305 as chacha } from "@noble/ciphers/chacha.js";
import {
  AEAD_IV_LEN,
  AEAD_KEY_LEN,
  AEAD_TAG_LEN,
  SUITE_XWING_AES256GCM,
  SUITE_XWING_CHACHA20POLY1305,
  type SuiteId,
} from "./constants.ts";
import { PqgateError } from "./errors.ts";
import type { Aead } from "./types.ts";

type CipherFactory = (
  key: Uint8Array,
  nonce: Uint8Array,
  aad?: Uint8Array,
) => { encrypt(pt: Uint8Array): Uint8Array; decrypt(ct: Uint8Array): Uint8Array };

function checkKeyNonce(name: string, key: Uint8Array, nonce: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== AEAD_KEY_LEN) {
    throw new TypeError(`${name}: key must be ${AEAD_KEY_LEN} bytes`);
  }
  if (!(nonce instanceof Uint8Array) || nonce.length !== AEAD_IV_LEN) {
    throw new TypeError(`${name}: nonce must be ${AEAD_IV_LEN} bytes`);
  }
}

function makeAead(name: string, factory: CipherFactory): Aead {
  return Object.freeze({
    name,
    seal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
      checkKeyNonce(name, key, nonce);
      return factory(key, nonce, aad).encrypt(plaintext);
    },
    open(
      key: Uint8Array,
      nonce: Uint8Array,
      aad: Uint8Array,
      ciphertext: Uint8Array,
    ): Uint8Array | null {
      checkKeyNonce(name, key, nonce);
      if (!(ciphertext instanceof Uint8Array) || ciphertext.length < AEAD_TAG_LEN) return null;
      try {
        return factory(key, nonce, aad).decrypt(ciphertext);
      } catch {
        return null; // tag mismatch: opaque by design
      }
    },
  });
}

/** Suite 0x0001. */
export const aes256gcm: Aead = makeAead("AES-256-GCM", gcm as unknown as CipherFactory);
/** Suite 0x0002. */
export const chacha20poly1305: Aead = makeAead(
  "ChaCha20-Poly1305",
  chacha as unknown as CipherFactory,
);

/** The AEAD of a suite (§2). Unknown suite → PqgateError("internal_error"). */
export function aeadForSuite(suite: SuiteId | number): Aead {
  switch (suite) {
    case SUITE_XWING_AES256GCM:
      return aes256gcm;
    case SUITE_XWING_CHACHA20POLY1305:
      return chacha20poly1305;
    default:
      throw new PqgateError("internal_error", "unknown suite");
  }
}
