/**
 * The PSK file (or secret text): one `IDENTITY:KEY` per line, KEY the base64url (no padding) of
 * exactly 32 bytes, e.g. as `pqgate psk new ID` prints:
 *
 *   # comment lines and blank lines are ignored
 *   sensor-17:7Zq9...43 characters...
 *
 * IDENTITY: 1..128 characters of `A-Z a-z 0-9 . _ @ -` (what the client sends in the clear in
 * its ClientHello and what the origin sees as the subject). Bounds: MAX_PSKS entries,
 * MAX_PSK_FILE_BYTES of text. Errors name the line, never a key.
 */
import { AuthConfigError } from "./options.ts";

export const MAX_PSKS = 10_000;
export const MAX_PSK_FILE_BYTES = 2 * 1024 * 1024;
export const PSK_IDENTITY_RE = /^[A-Za-z0-9._@-]{1,128}$/;
export const PSK_BYTES = 32;

/** Parses PSK-file text into identity -> 32-byte key; throws AuthConfigError naming the line. */
export function parsePskFile(text: string): Map<string, Uint8Array> {
  if (text.length > MAX_PSK_FILE_BYTES) {
    throw new AuthConfigError(`PSK file: larger than ${MAX_PSK_FILE_BYTES} bytes`);
  }
  const keys = new Map<string, Uint8Array>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "" || line.startsWith("#")) continue;
    const at = `PSK file line ${i + 1}`;
    const colon = line.indexOf(":");
    if (colon < 0) throw new AuthConfigError(`${at}: expected IDENTITY:KEY`);
    const id = line.slice(0, colon);
    if (!PSK_IDENTITY_RE.test(id)) {
      throw new AuthConfigError(`${at}: identity must be 1..128 of A-Z a-z 0-9 . _ @ -`);
    }
    if (keys.has(id)) throw new AuthConfigError(`${at}: identity ${id} appears twice`);
    const key = decodeKey(line.slice(colon + 1));
    if (!key) {
      throw new AuthConfigError(`${at}: key must be the base64url (no padding) of 32 bytes`);
    }
    keys.set(id, key);
    if (keys.size > MAX_PSKS) throw new AuthConfigError(`PSK file: more than ${MAX_PSKS} keys`);
  }
  return keys;
}

/** A PSK-file line for `id` with a fresh random key (`pqgate psk new`). */
export function newPskLine(id: string, random: (n: number) => Uint8Array): string {
  if (!PSK_IDENTITY_RE.test(id)) {
    throw new AuthConfigError("identity must be 1..128 of A-Z a-z 0-9 . _ @ -");
  }
  return `${id}:${encodeKey(random(PSK_BYTES))}`;
}

function encodeKey(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += String.fromCharCode(x);
  return btoa(s).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
}

function decodeKey(s: string): Uint8Array | null {
  // 32 bytes = 43 characters, the last one carrying 4 bits (so one of A E I M Q U Y c g k o s w 0 4 8).
  if (!/^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/.test(s)) return null;
  const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/") + "=");
  const out = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  return out.length === PSK_BYTES ? out : null;
}
