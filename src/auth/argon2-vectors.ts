/**
 * Argon2id known answers, checked on Deno (argon2.test.ts) and in workerd
 * (tests/cloudflare/argon2-workerd.test.ts) against the same build:
 *
 * - RFC 9106 §5.3 (Argon2id: password 32×0x01, salt 16×0x02, secret 8×0x03, ad 12×0x04,
 *   m = 32, t = 3, p = 4, 32-byte tag);
 * - the reference implementation's PHC test (phc-winner-argon2 src/test.c: "password",
 *   "somesalt", m = 65536, t = 2, p = 1).
 */
import type { computeHash } from "argon2id/lib/setup.js";

export const RFC9106_ARGON2ID_TAG =
  "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659";
export const REFERENCE_PHC =
  "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc";

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

/** The RFC 9106 tag as `compute` gives it, in hex. */
export function rfc9106Tag(compute: computeHash): string {
  return hex(compute({
    password: new Uint8Array(32).fill(1),
    salt: new Uint8Array(16).fill(2),
    secret: new Uint8Array(8).fill(3),
    ad: new Uint8Array(12).fill(4),
    memorySize: 32,
    passes: 3,
    parallelism: 4,
    tagLength: 32,
  }));
}
