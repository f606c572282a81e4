/**
 * The Service Worker mode's configuration (docs/service-worker.md): which gateway, which pin,
 * and which requests of the page go through the channel. It travels in the worker's script URL
 * (`/pqgate-sw.js?config=<base64url of the JSON>`), so it survives the browser stopping and
 * restarting the worker: the browser keeps the URL it registered and evaluates the script with
 * it again on every start. Parsed strictly (unknown fields, wrong types, out-of-bound sizes: a
 * TypeError naming the field); the worker refuses to start on an invalid configuration
 * (service-worker-entry.ts), so it never controls a page with rules it could not read.
 *
 * Match rules: `{ origin, pathPrefix? }`. `origin` is a serialized origin
 * ("https://api.example", "http://127.0.0.1:8080": scheme, host, port if not the default; no
 * path, no trailing slash), compared exactly with the request URL's origin. `pathPrefix`
 * (default "/") selects the URL paths at or under it, on segment boundaries as the gateway's
 * route `pathPrefix` does (docs/forwarding.md): "/v1" and "/v1/" both match "/v1", "/v1/" and
 * "/v1/x", never "/v1x". The request URL's path is the one the browser already normalized
 * (dot segments resolved); the query and fragment are not looked at.
 */
import { fromBase64Url, toBase64Url, utf8Decode, utf8Encode } from "../protocol/bytes.ts";
import { parsePin } from "../protocol/static-keys.ts";

/** Version of the configuration format; a worker refuses any other. */
export const SW_CONFIG_VERSION = 1;
/** Most match rules one configuration may hold. */
export const SW_MAX_RULES = 64;
/** Longest `config` query value (base64url characters) a worker accepts. */
export const SW_MAX_CONFIG_CHARS = 16_384;
/** Longest origin, path prefix or URL in a configuration. */
export const SW_MAX_FIELD_CHARS = 2048;
/** The query parameter of the worker's script URL that carries the configuration. */
export const SW_CONFIG_PARAM = "config";

export interface MatchRule {
  /** "https://api.example": the exact origin of the requests to route. */
  origin: string;
  /** Path prefix on segment boundaries (default "/": every path of the origin). */
  pathPrefix?: string;
}

/** What `registerPqgate` puts into the worker's URL (and the worker reads back). */
export interface ServiceWorkerConfig {
  /** The gateway's channel URL, ws: or wss: (e.g. "wss://gw.example/pqgate"). */
  gateway: string;
  /** "sha256:<base64url>" of the gateway key (PROTOCOL.md §8). Required: no anonymous mode. */
  pin: string;
  /** Where the key configuration is (http(s)); default `<gateway host>/.well-known/pqgate`. */
  keyConfigUrl?: string;
  /** The requests to route through the channel (at least one rule). */
  match: MatchRule[];
}

/** A validated configuration with its rules normalized for matching. */
export interface CheckedConfig extends ServiceWorkerConfig {
  rules: readonly { origin: string; pathPrefix: string }[];
}

const TOP_KEYS = new Set(["v", "gateway", "pin", "keyConfigUrl", "match"]);
const RULE_KEYS = new Set(["origin", "pathPrefix"]);

function fail(field: string, what: string): never {
  throw new TypeError(`pqgate service worker: ${field} ${what}`);
}

function str(value: unknown, field: string): string {
  if (typeof value !== "string" || value.length === 0 || value.length > SW_MAX_FIELD_CHARS) {
    fail(field, `must be a string of 1..${SW_MAX_FIELD_CHARS} characters`);
  }
  return value;
}

function urlOf(value: string, field: string): URL {
  try {
    return new URL(value);
  } catch {
    return fail(field, "is not an absolute URL");
  }
}

/** `value` if it is a serialized http(s) origin, else a TypeError naming `field`. */
function checkOrigin(value: unknown, field: string): string {
  const s = str(value, field);
  const u = urlOf(s, field);
  if (u.protocol !== "https:" && u.protocol !== "http:") fail(field, "must be an http(s) origin");
  if (u.origin !== s) {
    fail(field, `must be a bare origin like "https://api.example" (got ${JSON.stringify(s)})`);
  }
  return s;
}

function checkPathPrefix(value: unknown, field: string): string {
  if (value === undefined) return "/";
  const s = str(value, field);
  if (!s.startsWith("/")) fail(field, 'must start with "/"');
  // What the browser's URL parser would leave of it: no dot segments, no query or fragment,
  // nothing it would percent-encode (so a prefix compares with request paths as written).
  const parsed = new URL(s, "http://x").pathname;
  if (parsed !== s || s.includes("//")) {
    fail(field, `must be a normalized URL path (got ${JSON.stringify(s)})`);
  }
  return s === "/" ? "/" : s.replace(/\/+$/, "");
}

/**
 * Validates a configuration object (as JSON gives it). Throws TypeError naming the field at
 * fault; the pin itself is never echoed in full (it is not secret, but keeps messages short).
 */
export function checkServiceWorkerConfig(value: unknown): CheckedConfig {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    fail("configuration", "must be an object");
  }
  const o = value as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!TOP_KEYS.has(k)) fail(k, "is not a configuration field");
  if (o.v !== undefined && o.v !== SW_CONFIG_VERSION) {
    fail("v", `must be ${SW_CONFIG_VERSION} (this worker's configuration format)`);
  }
  const gateway = str(o.gateway, "gateway");
  const gw = urlOf(gateway, "gateway");
  if (gw.protocol !== "wss:" && gw.protocol !== "ws:") fail("gateway", "must be a ws: or wss: URL");
  if (gw.username !== "" || gw.password !== "") fail("gateway", "must not contain credentials");
  const pin = str(o.pin, "pin");
  if (parsePin(pin) === null) fail("pin", 'must be "sha256:<base64url of 32 bytes>"');
  let keyConfigUrl: string | undefined;
  if (o.keyConfigUrl !== undefined) {
    keyConfigUrl = str(o.keyConfigUrl, "keyConfigUrl");
    const k = urlOf(keyConfigUrl, "keyConfigUrl");
    if (k.protocol !== "https:" && k.protocol !== "http:") {
      fail("keyConfigUrl", "must be an http: or https: URL");
    }
    if (k.username !== "" || k.password !== "") {
      fail("keyConfigUrl", "must not contain credentials");
    }
  }
  if (!Array.isArray(o.match) || o.match.length === 0 || o.match.length > SW_MAX_RULES) {
    fail("match", `must be an array of 1..${SW_MAX_RULES} rules`);
  }
  const match: MatchRule[] = [];
  const rules: { origin: string; pathPrefix: string }[] = [];
  o.match.forEach((r: unknown, i: number) => {
    const at = `match[${i}]`;
    if (typeof r !== "object" || r === null || Array.isArray(r)) {
      fail(at, "must be an object { origin, pathPrefix? }");
    }
    const rule = r as Record<string, unknown>;
    for (const k of Object.keys(rule)) {
      if (!RULE_KEYS.has(k)) fail(`${at}.${k}`, "is not a match rule field");
    }
    const origin = checkOrigin(rule.origin, `${at}.origin`);
    const pathPrefix = checkPathPrefix(rule.pathPrefix, `${at}.pathPrefix`);
    match.push(
      rule.pathPrefix === undefined
        ? { origin }
        : { origin, pathPrefix: rule.pathPrefix as string },
    );
    rules.push({ origin, pathPrefix });
  });
  return {
    gateway,
    pin,
    ...(keyConfigUrl === undefined ? {} : { keyConfigUrl }),
    match,
    rules,
  };
}

/** Whether `path` is `prefix` or under it (prefix normalized: "/" or "/a/b", no trailing "/"). */
function underPrefix(path: string, prefix: string): boolean {
  if (prefix === "/") return true;
  return path === prefix || (path.startsWith(prefix) && path[prefix.length] === "/");
}

/** Whether a request URL goes through the channel under `config`'s rules. */
export function matchesRequest(config: CheckedConfig, url: string | URL): boolean {
  let u: URL;
  try {
    u = typeof url === "string" ? new URL(url) : url;
  } catch {
    return false;
  }
  const origin = u.origin;
  const path = u.pathname;
  for (const r of config.rules) {
    if (r.origin === origin && underPrefix(path, r.pathPrefix)) return true;
  }
  return false;
}

/** The `config` query value for a configuration (validated first: TypeError when invalid). */
export function encodeServiceWorkerConfig(config: ServiceWorkerConfig): string {
  const c = checkServiceWorkerConfig(config);
  const json = JSON.stringify({
    v: SW_CONFIG_VERSION,
    gateway: c.gateway,
    pin: c.pin,
    ...(c.keyConfigUrl === undefined ? {} : { keyConfigUrl: c.keyConfigUrl }),
    match: c.match,
  });
  const out = toBase64Url(utf8Encode(json));
  if (out.length > SW_MAX_CONFIG_CHARS) {
    fail("configuration", `encodes to more than ${SW_MAX_CONFIG_CHARS} characters`);
  }
  return out;
}

/**
 * The configuration in a worker's script URL (its `config` query parameter, which must appear
 * exactly once). TypeError when it is missing, too long, not base64url JSON, or invalid.
 */
export function configFromScriptUrl(scriptUrl: string | URL): CheckedConfig {
  const u = new URL(scriptUrl);
  const values = u.searchParams.getAll(SW_CONFIG_PARAM);
  if (values.length !== 1) {
    fail(
      `the script URL's ?${SW_CONFIG_PARAM}= parameter`,
      values.length === 0
        ? "is missing (register the worker with registerPqgate)"
        : "must appear once",
    );
  }
  const raw = values[0];
  if (raw.length === 0 || raw.length > SW_MAX_CONFIG_CHARS) {
    fail(`?${SW_CONFIG_PARAM}=`, `must be 1..${SW_MAX_CONFIG_CHARS} characters`);
  }
  let json: unknown;
  try {
    const text = utf8Decode(fromBase64Url(raw));
    if (text === null) throw new TypeError("not UTF-8");
    json = JSON.parse(text);
  } catch {
    fail(`?${SW_CONFIG_PARAM}=`, "is not base64url-encoded JSON");
  }
  if (
    typeof json === "object" && json !== null && !Array.isArray(json) &&
    (json as { v?: unknown }).v === undefined
  ) {
    fail("v", "is missing");
  }
  return checkServiceWorkerConfig(json);
}
