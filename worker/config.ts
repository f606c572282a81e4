/**
 * Worker configuration, the Cloudflare way (docs/cloudflare.md):
 *
 *   PQGATE_KEYS               secret  JSON: the gateway's static keys, all live (rotation).
 *                                     An array whose entries are a base64url (43 chars) or hex
 *                                     (64 chars) 32-byte seed, or a key-file object
 *                                     `{ "seed": "...", "key_id"?: "...", "pin"?: "..." }`
 *                                     (a `pqgate keygen` file pasted as is; key_id/pin, when
 *                                     present, must match the seed). A single object or string
 *                                     is accepted as a one-key list.
 *   PQGATE_ROUTES             var     JSON array of route entries (src/proxy/routes.ts). An
 *                                     origin `service:NAME` calls the service binding NAME.
 *                                     Unset: the embedded demo origin at https://demo/ only.
 *   PQGATE_ALLOW_ANONYMOUS    var     "true" accepts anonymous-mode clients. Default false.
 *   PQGATE_LIMITS             var     JSON object of SessionLimits overrides.
 *   PQGATE_ORIGIN_TIMEOUT_MS  var     ms to origin response headers (default 30000).
 *   PQGATE_ORIGIN_BODY_IDLE_TIMEOUT_MS var  ms without origin body bytes before the stream is
 *                                     reset (default 30000; "0" = none).
 *   PQGATE_ALLOWED_ORIGINS    var     browser origins that may open a channel and read the key
 *                                     configuration: a JSON array (`["https://app.example.com"]`,
 *                                     `[]` = none, `["*"]` = any) or a comma list
 *                                     (`https://a.example,https://b.example`, `*`). Unset: same
 *                                     origin only (createGateway `allowedOrigins`).
 *   PQGATE_LOG                var     "off" silences the JSON event log. Default on.
 *   PQGATE_CRYPTO             var     "auto" (default: native backends that pass their
 *                                     self-tests, selected once per isolate) or "noble".
 *
 * Everything here is parsed once per isolate and cached by the raw strings; a bad value fails
 * with a message naming the variable (never echoing a secret).
 */
import { fromBase64Url, fromHex, toHex } from "../src/protocol/bytes.ts";
import { XWING_SEED_LEN } from "../src/protocol/constants.ts";
import { generateStaticKey, pinFor } from "../src/protocol/static-keys.ts";
import type { StaticKey } from "../src/protocol/types.ts";
import type { RouteConfig } from "../src/proxy/routes.ts";
import type { SessionLimits } from "../src/tunnel/types.ts";
import type { DurableObjectNamespace, Fetcher } from "../src/transport/cloudflare/platform.ts";

/** The Worker's bindings (wrangler.toml). Service bindings named by routes are looked up by name. */
export interface WorkerEnv {
  PQGATE_SESSION: DurableObjectNamespace;
  PQGATE_KEYS?: string;
  PQGATE_ROUTES?: string;
  PQGATE_ALLOW_ANONYMOUS?: string;
  PQGATE_LIMITS?: string;
  PQGATE_ORIGIN_TIMEOUT_MS?: string;
  PQGATE_ORIGIN_BODY_IDLE_TIMEOUT_MS?: string;
  /** createGateway's `allowedOrigins`: a JSON array or a comma list. */
  PQGATE_ALLOWED_ORIGINS?: string;
  /** "off" silences the JSON event log (console.log → Workers Logs). */
  PQGATE_LOG?: string;
  /** "auto" (default) or "noble": createGateway's `crypto` option. */
  PQGATE_CRYPTO?: string;
  /** Test bindings only (never in wrangler.toml): enables /__pqgate_test/* routes. */
  PQGATE_TEST_HOOKS?: string;
  [binding: string]: unknown;
}

export class WorkerConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WorkerConfigError";
  }
}

function decodeSeed(s: unknown, at: string): Uint8Array {
  if (typeof s !== "string") throw new WorkerConfigError(`${at}: seed must be a string`);
  let seed: Uint8Array;
  try {
    seed = /^[0-9a-fA-F]{64}$/.test(s) ? fromHex(s) : fromBase64Url(s);
  } catch {
    throw new WorkerConfigError(`${at}: seed is neither 64 hex digits nor base64url`);
  }
  if (seed.length !== XWING_SEED_LEN) {
    throw new WorkerConfigError(`${at}: seed must be ${XWING_SEED_LEN} bytes`);
  }
  return seed;
}

/** Parses the PQGATE_KEYS secret into static keys (one X-Wing keygen per key). */
export function parseKeys(raw: string | undefined): StaticKey[] {
  if (raw === undefined || raw.trim() === "") {
    throw new WorkerConfigError(
      "PQGATE_KEYS is not set: `wrangler secret put PQGATE_KEYS` (see docs/cloudflare.md)",
    );
  }
  let j: unknown;
  const text = raw.trim();
  if (text.startsWith("[") || text.startsWith("{") || text.startsWith('"')) {
    try {
      j = JSON.parse(text);
    } catch {
      throw new WorkerConfigError("PQGATE_KEYS is not valid JSON");
    }
  } else {
    j = text; // a bare seed
  }
  const list = Array.isArray(j) ? j : [j];
  if (list.length === 0) throw new WorkerConfigError("PQGATE_KEYS must hold at least one key");
  const seen = new Set<string>();
  return list.map((entry, i) => {
    const at = `PQGATE_KEYS[${i}]`;
    let seedText: unknown = entry;
    let keyIdHex: unknown;
    let pin: unknown;
    if (typeof entry === "object" && entry !== null) {
      const o = entry as Record<string, unknown>;
      if (o.kem !== undefined && o.kem !== "X-Wing") throw new WorkerConfigError(`${at}.kem must be "X-Wing"`);
      if (o.version !== undefined && o.version !== 1) throw new WorkerConfigError(`${at}.version must be 1`);
      seedText = o.seed;
      keyIdHex = o.key_id;
      pin = o.pin;
    }
    const seed = decodeSeed(seedText, at);
    const key = generateStaticKey(seed);
    seed.fill(0);
    const id = toHex(key.keyId);
    if (keyIdHex !== undefined && keyIdHex !== id) {
      throw new WorkerConfigError(`${at}.key_id does not match its seed`);
    }
    if (pin !== undefined && pin !== pinFor(key.publicKey)) {
      throw new WorkerConfigError(`${at}.pin does not match its seed`);
    }
    if (seen.has(id)) throw new WorkerConfigError(`${at}: key ${id} is listed twice`);
    seen.add(id);
    return key;
  });
}

function parseJson(name: string, raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    throw new WorkerConfigError(`${name} is not valid JSON`);
  }
}

export function parseRoutes(raw: string | undefined): RouteConfig[] | undefined {
  if (raw === undefined || raw.trim() === "") return undefined;
  const j = parseJson("PQGATE_ROUTES", raw);
  if (!Array.isArray(j)) throw new WorkerConfigError("PQGATE_ROUTES must be a JSON array of routes");
  return j as RouteConfig[];
}

/** Service names referenced by `service:NAME` origins, bound from `env[NAME]`. */
export function serviceBindings(
  routes: readonly RouteConfig[] | undefined,
  env: WorkerEnv,
): Record<string, Fetcher> {
  const out: Record<string, Fetcher> = {};
  for (const [i, r] of (routes ?? []).entries()) {
    const origin = typeof r?.origin === "string" ? r.origin : "";
    if (!origin.startsWith("service:")) continue;
    const name = origin.slice("service:".length);
    const b = env[name] as Fetcher | undefined;
    if (!b || typeof b.fetch !== "function") {
      throw new WorkerConfigError(
        `PQGATE_ROUTES[${i}].origin is service:${name}, but the Worker has no service binding ${name}`,
      );
    }
    out[name] = { fetch: (req: Request | string | URL, init?: RequestInit) => b.fetch(req, init) };
  }
  return out;
}

export function parseBool(name: string, raw: string | undefined): boolean | undefined {
  if (raw === undefined || raw === "") return undefined;
  if (raw === "true" || raw === "1") return true;
  if (raw === "false" || raw === "0") return false;
  throw new WorkerConfigError(`${name} must be "true" or "false"`);
}

export function parseLimits(raw: string | undefined): Partial<SessionLimits> | undefined {
  if (raw === undefined || raw.trim() === "") return undefined;
  const j = parseJson("PQGATE_LIMITS", raw);
  if (typeof j !== "object" || j === null || Array.isArray(j)) {
    throw new WorkerConfigError("PQGATE_LIMITS must be a JSON object");
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
    throw new WorkerConfigError(`${name} must be a ${allowZero ? "non-negative" : "positive"} integer`);
  }
  return n;
}

export function parseCrypto(raw: string | undefined): "auto" | "noble" | undefined {
  if (raw === undefined || raw === "") return undefined;
  if (raw === "auto" || raw === "noble") return raw;
  throw new WorkerConfigError('PQGATE_CRYPTO must be "auto" or "noble"');
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
      throw new WorkerConfigError("PQGATE_ALLOWED_ORIGINS must be a JSON array of origin strings");
    }
    return j as string[];
  }
  const list = text.split(",").map((o) => o.trim());
  if (list.some((o) => o === "")) {
    throw new WorkerConfigError("PQGATE_ALLOWED_ORIGINS has an empty entry in its comma list");
  }
  return list;
}
