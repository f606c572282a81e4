/**
 * Argon2id PHC strings: `$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>`, salt and
 * hash in the PHC format's base64 (standard alphabet, no padding). A strict parser with bounds
 * rather than @phc/format: that package needs Node's Buffer (not in a Worker without
 * nodejs_compat) and checks no cost bounds, and the bounds are the point here: a users file must
 * not make the gateway spend unbounded CPU or memory on one verification.
 */
import type { Argon2Params } from "./options.ts";

/** Parameter bounds a PHC string must respect (inclusive). */
export const PHC_BOUNDS = {
  /** Memory, KiB: 1 MiB .. 64 MiB (the default is 19456). */
  m: { min: 1024, max: 65536 },
  /** Passes (default 2). */
  t: { min: 1, max: 8 },
  /** Lanes (default 1). */
  p: { min: 1, max: 4 },
  /** Salt bytes. */
  salt: { min: 8, max: 64 },
  /** Hash (tag) bytes. */
  hash: { min: 16, max: 64 },
} as const;

/** Longest PHC string accepted, characters. */
export const PHC_MAX_LENGTH = 256;

export interface PhcHash {
  params: Argon2Params;
  salt: Uint8Array;
  hash: Uint8Array;
}

/** Why a PHC string is refused: a fixed phrase, never any part of the string. */
export class PhcError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PhcError";
  }
}

const PHC_RE =
  /^\$argon2id\$v=19\$m=([1-9][0-9]{0,7}),t=([1-9][0-9]{0,2}),p=([1-9][0-9]{0,2})\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;

/** Parses and bounds-checks an Argon2id PHC string; throws PhcError. */
export function parsePhc(s: string): PhcHash {
  if (s.length > PHC_MAX_LENGTH) throw new PhcError("PHC string too long");
  const m = PHC_RE.exec(s);
  if (!m) {
    throw new PhcError("not an argon2id PHC string ($argon2id$v=19$m=..,t=..,p=..$salt$hash)");
  }
  const params = { m: Number(m[1]), t: Number(m[2]), p: Number(m[3]), hashLength: 0 };
  for (const k of ["m", "t", "p"] as const) {
    const b = PHC_BOUNDS[k];
    if (params[k] < b.min || params[k] > b.max) {
      throw new PhcError(`argon2id ${k} must be in ${b.min}..${b.max}`);
    }
  }
  if (params.m < 8 * params.p) throw new PhcError("argon2id m must be at least 8 * p");
  const salt = b64Decode(m[4], "salt");
  const hash = b64Decode(m[5], "hash");
  if (salt.length < PHC_BOUNDS.salt.min || salt.length > PHC_BOUNDS.salt.max) {
    throw new PhcError(`salt must be ${PHC_BOUNDS.salt.min}..${PHC_BOUNDS.salt.max} bytes`);
  }
  if (hash.length < PHC_BOUNDS.hash.min || hash.length > PHC_BOUNDS.hash.max) {
    throw new PhcError(`hash must be ${PHC_BOUNDS.hash.min}..${PHC_BOUNDS.hash.max} bytes`);
  }
  params.hashLength = hash.length;
  return { params, salt, hash };
}

/** The PHC string of a hash (parsePhc's inverse). */
export function formatPhc(h: PhcHash): string {
  const { m, t, p } = h.params;
  return `$argon2id$v=19$m=${m},t=${t},p=${p}$${b64Encode(h.salt)}$${b64Encode(h.hash)}`;
}

function b64Encode(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += String.fromCharCode(x);
  return btoa(s).replace(/=+$/, "");
}

function b64Decode(s: string, what: string): Uint8Array {
  if (s.length % 4 === 1) throw new PhcError(`${what} is not valid base64`);
  const bin = atob(s + "=".repeat((4 - (s.length % 4)) % 4));
  const out = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  // Canonical only: unused trailing bits must be zero (one string per value).
  if (b64Encode(out) !== s) throw new PhcError(`${what} is not canonical base64`);
  return out;
}
