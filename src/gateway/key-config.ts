/**
 * The key configuration served at `GET /.well-known/pqgate` (PROTOCOL.md §8). Public data only:
 * a client with a pin picks the key whose SHA-256 matches and handshakes in pinned mode.
 */
import { toBase64Url, toHex } from "../protocol/bytes.ts";
import { type SuiteId, VERSION } from "../protocol/constants.ts";
import { pinFor } from "../protocol/static-keys.ts";
import type { StaticKey } from "../protocol/types.ts";

export interface KeyConfigEntry {
  /** 8-byte key id, lowercase hex. */
  key_id: string;
  kem: "X-Wing";
  /** 1216-byte X-Wing public key, base64url without padding. */
  public_key: string;
  /** "sha256:" + base64url(SHA-256(public_key)) without padding. */
  pin: string;
}

export interface KeyConfiguration {
  /** Protocol version the gateway speaks (1). */
  version: number;
  /** All versions the gateway speaks (PROTOCOL.md §3.5), newest first. */
  versions: number[];
  /** Suite ids, gateway preference first. */
  suites: number[];
  /** Live keys; several during a rotation. */
  keys: KeyConfigEntry[];
}

export function keyConfiguration(
  keys: readonly StaticKey[],
  suites: readonly SuiteId[],
): KeyConfiguration {
  return {
    version: VERSION,
    versions: [VERSION],
    suites: [...suites],
    keys: keys.map((k) => ({
      key_id: toHex(k.keyId),
      kem: "X-Wing",
      public_key: toBase64Url(k.publicKey),
      pin: pinFor(k.publicKey),
    })),
  };
}
