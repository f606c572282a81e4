/**
 * The gateway's configuration from environment variables: one parser for every platform that
 * configures pqgate this way (the Cloudflare Worker's bindings, Deno Deploy's environment, a
 * plain `deno run --allow-env`). The names and formats are the same everywhere
 * (docs/configuration.md, docs/cloudflare.md, docs/deno-deploy.md):
 *
 *   PQGATE_KEYS               secret  JSON: the gateway's static keys, all live (rotation).
 *                                     An array whose entries are a base64url (43 chars) or hex
 *                                     (64 chars) 32-byte seed, or a key-file object
 *                                     `{ "seed": "...", "key_id"?: "...", "pin"?: "..." }`
 *                                     (a key file pasted as is; key_id/pin, when present, must
 *                                     match the seed). A single object or string is a one-key list.
 *   PQGATE_ROUTES                     JSON array of route entries (src/proxy/routes.ts). Unset:
 *                                     the embedded demo origin at https://demo/ only.
 *   PQGATE_ALLOW_ANONYMOUS            "true" accepts anonymous-mode clients. Default false.
 *   PQGATE_LIMITS                     JSON object of SessionLimits overrides.
 *   PQGATE_ORIGIN_TIMEOUT_MS          ms to origin response headers (default 30000).
 *   PQGATE_ORIGIN_BODY_IDLE_TIMEOUT_MS  ms without origin body bytes before the stream is reset
 *                                     (default 30000; "0" = none).
 *   PQGATE_ALLOWED_ORIGINS            browser origins that may open a channel and read the key
 *                                     configuration: a JSON array (`["https://app.example.com"]`,
 *                                     `[]` = none, `["*"]` = any) or a comma list. Unset: same
 *                                     origin only.
 *   PQGATE_LOG                        "off" silences the JSON event log. Default on.
 *   PQGATE_CRYPTO                     "auto" (default) or "noble".
 *
 * A bad value fails with a ConfigError naming the variable, never echoing a secret.
 */
import { fromBase64Url, fromHex, toHex } from "../protocol/bytes.ts";
import { XWING_SEED_LEN } from "../protocol/constants.ts";
import { generateStaticKey, pinFor } from "../protocol/static-keys.ts";
import type { StaticKey } from "../protocol/types.ts";
import type { RouteConfig } from "../proxy/routes.ts";
import type { SessionLimits } from "../tunnel/types.ts";

/** Every variable gatewayOptionsFromEnv reads (also the cache key of a parsed configuration). */
export const GATEWAY_ENV_VARS = [
  "PQGATE_KEYS",
  "PQGATE_ROUTES",
  "PQGATE_ALLOW_ANONYMOUS",
  "PQGATE_LIMITS",
  "PQGATE_ORIGIN_TIMEOUT_MS",
  "PQGATE_ORIGIN_BODY_IDLE_TIMEOUT_MS",
  "PQGATE_ALLOWED_ORIGINS",
  "PQGATE_LOG",
  "PQGATE_CRYPTO",
] as const;

export type GatewayEnv = { [K in (typeof GATEWAY_ENV_VARS)[number]]?: string };

/** A configuration value that does not parse; the message names the variable. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

function decodeSeed(s: unknown, at: string): Uint8Array {
  if (typeof s !== "string") throw new ConfigError(`${at}: seed must be a string`);
  let seed: Uint8Array;
  try {
    seed = /^[0-9a-fA-F]{64}$/.test(s) ? fromHex(s) : fromBase64Url(s);
  } catch {
    throw new ConfigError(`${at}: seed is neither 64 hex digits nor base64url`);
  }
  if (seed.length !== XWING_SEED_LEN) {
    throw new ConfigError(`${at}: seed must be ${XWING_SEED_LEN} bytes`);
  }
  return seed;
}

/** Parses the PQGATE_KEYS secret into static keys (one X-Wing keygen per key). */
export function parseKeys(raw: string | undefined): StaticKey[] {
  if (raw === undefined || raw.trim() === "") {
    throw new ConfigError(
      "PQGATE_KEYS is not set: on Workers `wrangler secret put PQGATE_KEYS` (docs/cloudflare.md), on Deno Deploy an environment variable (docs/deno-deploy.md)",
    );
  }
  let j: unknown;
  const text = raw.trim();
  if (text.startsWith("[") || text.startsWith("{") || text.startsWith('"')) {
    try {
      j = JSON.parse(text);
    } catch {
      throw new ConfigError("PQGATE_KEYS is not valid JSON");
    }
  } else {
    j = text; // a bare seed
  }
  const list = Array.isArray(j) ? j : [j];
  if (list.length === 0) throw new ConfigError("PQGATE_KEYS must hold at least one key");
  const seen = new Set<string>();
  return list.map((entry, i) => {
    const at = `PQGATE_KEYS[${i}]`;
    let seedText: unknown = entry;
    let keyIdHex: unknown;
    let pin: unknown;
    if (typeof entry === "object" && entry !== null) {
      const o = entry as Record<string, unknown>;
      if (o.kem !== undefined && o.kem !== "X-Wing") {
        throw new ConfigError(`${at}.kem must be "X-Wing"`);
      }
      if (o.version !== undefined && o.version !== 1) {
        throw new ConfigError(`${at}.version must be 1`);
      }
      seedText = o.seed;
      keyIdHex = o.key_id;
      pin = o.pin;
    }
    const seed = decodeSeed(seedText, at);
    const key = generateStaticKey(seed);
    seed.fill(0);
    const id = toHex(key.keyId);
    if (keyIdHex !== undefined && keyIdHex !== id) {
      throw new ConfigError(`${at}.key_id does not match its seed`);
    }
    if (pin !== undefined && pin !== pinFor(key.publicKey)) {
      throw new ConfigError(`${at}.pin does not match its seed`);
    }
    if (seen.has(id)) throw new ConfigError(`${at}: key ${id} is listed twice`);
    seen.add(id);
    return key;
  });
}

function parseJson(name: string, raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    throw new ConfigError(`${name} is not valid JSON`);
  }
}

export function parseRoutes(raw: string | undefined): RouteConfig[] | undefined {
  if (raw === undefined || raw.trim() === "") return undefined;
  const j = parseJson("PQGATE_ROUTES", raw);
  if (!Array.isArray(j)) throw new ConfigError("PQGATE_ROUTES must be a JSON array of routes");
  return j as RouteConfig[];
}

export function parseBool(name: string, raw: string | undefined): boolean | undefined {
  if (raw === undefined || raw === "") return undefined;
  if (raw === "true" || raw === "1") return true;
  if (raw === "false" || raw === "0") return false;
  throw new ConfigError(`${name} must be "true" or "false"`);
}

export function parseLimits(raw: string | undefined): Partial<SessionLimits> | undefined {
  if (raw === undefined || raw.trim() === "") return undefined;
  const j = parseJson("PQGATE_LIMITS", raw);
  if (typeof j !== "object" || j === null || Array.isArray(j)) {
    throw new ConfigError("PQGATE_LIMITS must be a JSON object");
  }
  return j as Partial<SessionLimits>;
}

export function parseMs(
  name: string,
  raw: string | undefined,
  { allowZero = false }: { allowZero?: boolean } = {},
): number | undefined {
  if (raw === undefined || raw === "") return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || (n === 0 && !allowZero)) {
    throw new ConfigError(`${name} must be a ${allowZero ? "non-negative" : "positive"} integer`);
  }
  return n;
}

export function parseCrypto(raw: string | undefined): "auto" | "noble" | undefined {
  if (raw === undefined || raw === "") return undefined;
  if (raw === "auto" || raw === "noble") return raw;
  throw new ConfigError('PQGATE_CRYPTO must be "auto" or "noble"');
}

/**
 * PQGATE_ALLOWED_ORIGINS: a JSON array of strings, or a comma-separated list. Entries are
 * validated by createGateway (its error names `options.allowedOrigins[i]`).
 */
export function parseAllowedOrigins(raw: string | undefined): string[] | undefined {
  if (raw === undefined || raw.trim() === "") return undefined;
  const text = raw.trim();
  if (text.startsWith("[")) {
    const j = parseJson("PQGATE_ALLOWED_ORIGINS", text);
    if (!Array.isArray(j) || j.some((o) => typeof o !== "string")) {
      throw new ConfigError("PQGATE_ALLOWED_ORIGINS must be a JSON array of origin strings");
    }
    return j as string[];
  }
  const list = text.split(",").map((o) => o.trim());
  if (list.some((o) => o === "")) {
    throw new ConfigError("PQGATE_ALLOWED_ORIGINS has an empty entry in its comma list");
  }
  return list;
}

/** The createGateway options the environment sets (everything but services and log). */
export interface EnvGatewayOptions {
  keys: StaticKey[];
  routes: RouteConfig[] | undefined;
  allowAnonymous: boolean | undefined;
  limits: Partial<SessionLimits> | undefined;
  originTimeoutMs: number | undefined;
  originBodyIdleTimeoutMs: number | undefined;
  allowedOrigins: string[] | undefined;
  crypto: "auto" | "noble" | undefined;
  /** PQGATE_LOG=off. */
  logOff: boolean;
}

/** Parses every PQGATE_* variable of `env` (ConfigError on the first bad one). */
export function gatewayOptionsFromEnv(env: GatewayEnv): EnvGatewayOptions {
  return {
    keys: parseKeys(env.PQGATE_KEYS),
    routes: parseRoutes(env.PQGATE_ROUTES),
    allowAnonymous: parseBool("PQGATE_ALLOW_ANONYMOUS", env.PQGATE_ALLOW_ANONYMOUS),
    limits: parseLimits(env.PQGATE_LIMITS),
    originTimeoutMs: parseMs("PQGATE_ORIGIN_TIMEOUT_MS", env.PQGATE_ORIGIN_TIMEOUT_MS),
    originBodyIdleTimeoutMs: parseMs(
      "PQGATE_ORIGIN_BODY_IDLE_TIMEOUT_MS",
      env.PQGATE_ORIGIN_BODY_IDLE_TIMEOUT_MS,
      { allowZero: true },
    ),
    allowedOrigins: parseAllowedOrigins(env.PQGATE_ALLOWED_ORIGINS),
    crypto: parseCrypto(env.PQGATE_CRYPTO),
    logOff: env.PQGATE_LOG === "off",
  };
}

/** A string that changes whenever one of the variables does (to cache a parsed gateway). */
export function envCacheKey(env: GatewayEnv): string {
  return JSON.stringify(GATEWAY_ENV_VARS.map((name) => env[name] ?? null));
}
