/**
 * The gateway's key configuration (PROTOCOL.md §8), fetched from
 * `<http(s) origin of the channel URL>/.well-known/pqgate` (or from the URL given as the
 * `keyConfigUrl` option, for a gateway mounted under a path prefix), and the choice of the key
 * that matches a pin. The configuration may pass through an untrusted middlebox: only a key whose
 * SHA-256 equals the pin (constant-time comparison) is ever used.
 */
import { fromBase64Url, fromHex } from "../protocol/bytes.ts";
import { KEY_ID_LEN, XWING_PK_LEN } from "../protocol/constants.ts";
import { parsePin, pinFor, pinMatches } from "../protocol/static-keys.ts";
import { ConnectError, PinMismatchError } from "./errors.ts";

export const KEY_CONFIG_PATH = "/.well-known/pqgate";

export interface GatewayKey {
  keyId: Uint8Array;
  publicKey: Uint8Array;
}

/**
 * The http(s) URL of the key configuration for a ws(s)/http(s) channel URL: ws: becomes http:,
 * wss: becomes https:, the host (and a non-default port) is kept, and the path is always
 * /.well-known/pqgate at the host root (the channel URL's path, query, fragment and any
 * userinfo are not used).
 */
export function keyConfigUrl(channelUrl: string): URL {
  const u = new URL(channelUrl);
  const scheme = u.protocol === "wss:" || u.protocol === "https:"
    ? "https:"
    : u.protocol === "ws:" || u.protocol === "http:"
    ? "http:"
    : null;
  if (!scheme) {
    throw new TypeError(
      `pqgate: the gateway URL must be ws:, wss:, http: or https:, not ${u.protocol}`,
    );
  }
  return new URL(KEY_CONFIG_PATH, `${scheme}//${u.host}`);
}

/**
 * Validates an explicit key-configuration URL (the `keyConfigUrl` option): a string or URL,
 * absolute, http: or https:, without userinfo (credentials would be sent to whoever serves it
 * and end up in error messages). TypeError naming the option otherwise.
 */
export function explicitKeyConfigUrl(value: unknown): URL {
  if (typeof value !== "string" && !(value instanceof URL)) {
    throw new TypeError("pqgate: the keyConfigUrl option must be a string or a URL");
  }
  let u: URL;
  try {
    u = new URL(String(value));
  } catch {
    throw new TypeError("pqgate: the keyConfigUrl option is not an absolute URL");
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw new TypeError(
      `pqgate: the keyConfigUrl option must be an http: or https: URL, not ${u.protocol}`,
    );
  }
  if (u.username !== "" || u.password !== "") {
    throw new TypeError(
      "pqgate: the keyConfigUrl option must not contain credentials (user:password@)",
    );
  }
  u.hash = "";
  return u;
}

// ---- verified keys, remembered per (fetch function, configuration URL, pin) ---------------

/** Verified keys remembered per fetch function, at most this many (oldest dropped first). */
export const KEY_CACHE_MAX_ENTRIES = 32;
/** Lifetime of a remembered key when the response names none (the reference gateway's 60 s). */
export const KEY_CACHE_DEFAULT_S = 60;
/** Longest lifetime of a remembered key, whatever the response's max-age says. */
export const KEY_CACHE_MAX_S = 3600;

interface CachedKey {
  key: GatewayKey;
  expiresAt: number;
}
/**
 * Per fetch function (a test's or an application's own fetch never shares entries with another),
 * per `<configuration URL> <pin>`: the key that matched the pin, until the response's
 * `cache-control: max-age` (≤ KEY_CACHE_MAX_S; `no-store` / `no-cache`: not remembered).
 */
const keyCache = new WeakMap<typeof fetch, Map<string, CachedKey>>();

function cacheLifetimeS(cacheControl: string | null): number {
  if (cacheControl === null) return KEY_CACHE_DEFAULT_S;
  if (/(?:^|,)\s*(?:no-store|no-cache)\b/i.test(cacheControl)) return 0;
  const m = /(?:^|,)\s*max-age\s*=\s*"?(\d+)"?/i.exec(cacheControl);
  return m ? Math.min(KEY_CACHE_MAX_S, Number(m[1])) : KEY_CACHE_DEFAULT_S;
}

function cacheKey(url: URL, pin: string): string {
  return `${url.href} ${pin}`;
}

/** Forgets a remembered key (the gateway refused it: 4003 unknown_key_id). */
export function forgetPinnedKey(
  channelUrl: string,
  pin: string,
  fetchFn: typeof fetch = fetch,
  configUrl?: string | URL,
): void {
  const url = configUrl === undefined ? keyConfigUrl(channelUrl) : explicitKeyConfigUrl(configUrl);
  keyCache.get(fetchFn)?.delete(cacheKey(url, pin));
}

/**
 * The key matching `pin`: a verified key remembered from an earlier fetch of the same
 * configuration with the same fetch function while its lifetime lasts (no request at all: a
 * later channel knows the key, PROTOCOL.md §8.1), else `fetchPinnedKey`.
 */
export async function pinnedKey(
  channelUrl: string,
  pin: string,
  fetchFn: typeof fetch = fetch,
  configUrl?: string | URL,
  now: () => number = Date.now,
): Promise<GatewayKey> {
  const url = configUrl === undefined ? keyConfigUrl(channelUrl) : explicitKeyConfigUrl(configUrl);
  const k = cacheKey(url, pin);
  const entries = keyCache.get(fetchFn);
  const hit = entries?.get(k);
  if (hit && now() < hit.expiresAt) {
    return { keyId: hit.key.keyId.slice(), publicKey: hit.key.publicKey.slice() };
  }
  if (hit) entries!.delete(k);
  let lifetimeS = 0;
  const key = await fetchPinnedKey(channelUrl, pin, fetchFn, url, (cc) => {
    lifetimeS = cacheLifetimeS(cc);
  });
  if (lifetimeS > 0) {
    let m = keyCache.get(fetchFn);
    if (!m) keyCache.set(fetchFn, m = new Map());
    m.delete(k);
    while (m.size >= KEY_CACHE_MAX_ENTRIES) m.delete(m.keys().next().value!);
    m.set(k, {
      key: { keyId: key.keyId.slice(), publicKey: key.publicKey.slice() },
      expiresAt: now() + lifetimeS * 1000,
    });
  }
  return key;
}

/**
 * Fetches the configuration and returns the key matching `pin`, else PinMismatchError. The
 * configuration is read from `configUrl` when given, else from `keyConfigUrl(channelUrl)`.
 * `onCacheControl` hears the response's cache-control header (null when absent).
 */
export async function fetchPinnedKey(
  channelUrl: string,
  pin: string,
  fetchFn: typeof fetch = fetch,
  configUrl?: string | URL,
  onCacheControl?: (value: string | null) => void,
): Promise<GatewayKey> {
  if (parsePin(pin) === null) {
    throw new TypeError(
      `pqgate: malformed pin ${JSON.stringify(pin)}: expected "sha256:<base64url of 32 bytes>"`,
    );
  }
  const url = configUrl === undefined ? keyConfigUrl(channelUrl) : explicitKeyConfigUrl(configUrl);
  let json: unknown;
  try {
    const res = await fetchFn(url, { headers: { accept: "application/json" } });
    if (!res.ok) {
      await res.body?.cancel();
      throw new Error(`HTTP ${res.status}`);
    }
    json = await res.json();
    onCacheControl?.(res.headers?.get?.("cache-control") ?? null);
  } catch (e) {
    throw new ConnectError(
      `pqgate: could not fetch the gateway key configuration from ${url}: ${
        (e as Error)?.message ?? e
      }`,
      { cause: e },
    );
  }
  return selectPinnedKey(json, pin, url.origin);
}

/** Picks the key whose SHA-256 matches `pin` from a parsed configuration document. */
export function selectPinnedKey(config: unknown, pin: string, origin = "the gateway"): GatewayKey {
  const keys = (config as { keys?: unknown })?.keys;
  if (!Array.isArray(keys)) {
    throw new ConnectError(
      `pqgate: the key configuration of ${origin} is malformed (no keys array)`,
    );
  }
  const offered: string[] = [];
  let found: GatewayKey | null = null;
  for (const k of keys) {
    const entry = k as { key_id?: unknown; kem?: unknown; public_key?: unknown };
    if (
      entry?.kem !== "X-Wing" || typeof entry.public_key !== "string" ||
      typeof entry.key_id !== "string"
    ) continue;
    let publicKey: Uint8Array, keyId: Uint8Array;
    try {
      publicKey = fromBase64Url(entry.public_key);
      keyId = fromHex(entry.key_id);
    } catch {
      continue;
    }
    if (publicKey.length !== XWING_PK_LEN || keyId.length !== KEY_ID_LEN) continue;
    offered.push(pinFor(publicKey));
    // Check every key (no early exit) so timing does not depend on which one matched.
    if (pinMatches(pin, publicKey) && found === null) found = { keyId, publicKey };
  }
  if (!found) throw new PinMismatchError(pin, offered, origin);
  return found;
}
