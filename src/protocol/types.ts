/**
 * The public shapes of the protocol core. Pure: no I/O, no clock, no randomness source.
 * Randomness comes in as `RandomSource`, time as a number of milliseconds passed in by callers.
 */
import type { SuiteId } from "./constants.ts";

/** Returns `n` random bytes. Tests pass a seeded deterministic source. */
export type RandomSource = (n: number) => Uint8Array;

/** §2 The hybrid KEM interface (X-Wing). Faster backends implement the same interface. */
export interface HybridKem {
  readonly name: string;
  /** Derive a key pair from a 32-byte seed (the X-Wing secret key IS the seed). */
  keygen(seed: Uint8Array): { publicKey: Uint8Array; secretKey: Uint8Array };
  /** Encapsulate to `publicKey` with a 64-byte `eseed`; deterministic. Throws on invalid key. */
  encapsulate(publicKey: Uint8Array, eseed: Uint8Array): {
    cipherText: Uint8Array;
    sharedSecret: Uint8Array;
  };
  /** Decapsulate; never throws on a well-sized ciphertext (ML-KEM implicit rejection). */
  decapsulate(cipherText: Uint8Array, secretKey: Uint8Array): Uint8Array;
}

/** §2 AEAD used by the record layer. Synchronous on purpose (see README: backends). */
export interface Aead {
  readonly name: string;
  seal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array;
  /** Returns null when the tag does not verify. */
  open(
    key: Uint8Array,
    nonce: Uint8Array,
    aad: Uint8Array,
    ciphertext: Uint8Array,
  ): Uint8Array | null;
}

/** A gateway static key. */
export interface StaticKey {
  keyId: Uint8Array; // 8 bytes
  publicKey: Uint8Array; // 1216 bytes
  secretKey: Uint8Array; // 32-byte seed
}

/** What a finished handshake hands to the record layer (§4). */
export interface SessionKeys {
  suite: SuiteId;
  clientSecret: Uint8Array; // c_ap_0
  serverSecret: Uint8Array; // s_ap_0
  exporterSecret: Uint8Array; // exp
  sessionId: Uint8Array; // 16 bytes
  transcriptHash: Uint8Array; // th2
}

export type Role = "client" | "server";
