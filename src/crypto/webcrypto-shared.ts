/**
 * Constants and the WebCrypto surface shared by the server backends (src/crypto) and the
 * client's native X-Wing (src/client/webcrypto-kem.ts). No imports: safe for the browser bundle.
 */
import type { Bytes } from "../protocol/bytes.ts";

/** ML-KEM-768 ciphertext length: the first part of an X-Wing ciphertext. */
export const MLKEM768_CT_LEN = 1088;

/** The X-Wing combiner label `\.//^\` (6 bytes). */
export const XWING_LABEL: Bytes = Uint8Array.from([0x5c, 0x2e, 0x2f, 0x2f, 0x5e, 0x5c]);

/**
 * RFC 8410 PKCS#8 PrivateKeyInfo prefix for a raw 32-byte X25519 private key. DER import is
 * used on purpose: JWK export hung Node 20, and JWK import of a private key costs
 * ~185 µs in Deno 2.9 (it recomputes the public key) against ~12 µs for DER.
 */
export const PKCS8_X25519_PREFIX: Bytes = Uint8Array.from([
  0x30,
  0x2e,
  0x02,
  0x01,
  0x00,
  0x30,
  0x05,
  0x06,
  0x03,
  0x2b,
  0x65,
  0x6e,
  0x04,
  0x22,
  0x04,
  0x20,
]);

/** The WebCrypto ML-KEM / X25519 methods pqgate uses (not yet in TypeScript's lib.dom). */
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
  getPublicKey(key: CryptoKey, usages: string[]): Promise<CryptoKey>;
  deriveBits(alg: object, key: CryptoKey, length: number): Promise<ArrayBuffer>;
}
