/**
 * The gateway's one configuration parser: a config file (`npm start -- --config`,
 * `npx pqgate serve --config`) or environment variables (the Cloudflare Worker's bindings,
 * Deno Deploy, `gatewayOptionsFromEnv(process.env)`) become the same validated createGateway
 * options, through the same checks as createGateway's own (options.ts). Every bad value throws
 * the one ConfigError (config-error.ts), naming it as its source does:
 *
 *   pqgate.json: limits.maxStreams must be an integer from 1 to 4294967295, got 0
 *   PQGATE_LIMITS.maxStreams must be an integer from 1 to 4294967295, got 0
 *
 * and never echoing a secret (key seeds, gatewayAuth). Hand-written rather than a schema
 * library (valibot, zod): README "Quick start: Deno" and docs/configuration.md say why.
 *
 * GATEWAY_SETTINGS is the table of what a file and the environment share: each setting's
 * variable, how its string decodes, and its check. Only the environment carries key material
 * (PQGATE_KEYS) and PQGATE_CRYPTO / PQGATE_LOG; only a file names key files and the server's
 * listen address and bounds (serveDeno / serveNode options). The variables
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
 *   PQGATE_LOG                        the JSON event log's level: debug, info (default), warn,
 *                                     error, or "off" (docs/operations.md "Logs").
 *   PQGATE_CRYPTO                     "auto" (default) or "noble".
 *   PQGATE_USERS              secret  the users file's text (client authentication, password:
 *                                     Argon2id PHC lines as `pqgate passwd add` writes them).
 *   PQGATE_PSKS               secret  the PSK file's text (client authentication, psk).
 *   PQGATE_TOKEN_SECRET       secret  an HS256 secret for the token method.
 *   PQGATE_AUTH                       JSON: `methods`, `token` (issuer, audience, algorithms,
 *                                     jwksUrl, keys, ...), `limits` (auth-config.ts).
 */
import { fromBase64Url, fromHex, toHex } from "../protocol/bytes.ts";
import {
  SUITE_XWING_AES256GCM,
  SUITE_XWING_CHACHA20POLY1305,
  type SuiteId,
  XWING_SEED_LEN,
} from "../protocol/constants.ts";
import { generateStaticKey, pinFor } from "../protocol/static-keys.ts";
import type { StaticKey } from "../protocol/types.ts";
import { compileRoutes, type RouteConfig } from "../proxy/routes.ts";
import type { SessionLimits } from "../tunnel/types.ts";
import {
  ConfigError,
  configFail,
  configFailWith,
  formatConfigPath,
  type Where,
  within,
} from "./config-error.ts";
import {
  routeError,
  validateChannelPath,
  validateLimits,
  validateOptionalMs,
  validatePositiveMs,
  validateSuites,
} from "./options.ts";
import { parseAllowedOrigins as originPolicy } from "./origin-policy.ts";
import type { AuthOptions } from "../auth/options.ts";
import { authOptionsFromEnv } from "./auth-options.ts";
import {
  type AuthFileSettings,
  checkAuthEnv,
  checkAuthFile,
  unreachableAuthRoutes,
} from "./auth-config.ts";
import { checkWebSocketSettings, type WebSocketSettings } from "./websocket-options.ts";
import { LOG_FORMATS, LOG_THRESHOLDS, type LogFormat, type LogThreshold } from "./log-writer.ts";

export { ConfigError, configFail };
export type { ConfigPath, Where } from "./config-error.ts";

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
  "PQGATE_AUTH",
  "PQGATE_USERS",
  "PQGATE_PSKS",
  "PQGATE_TOKEN_SECRET",
  "PQGATE_WEBSOCKETS",
] as const;

export type GatewayEnv = { [K in (typeof GATEWAY_ENV_VARS)[number]]?: string };

/** The createGateway options a config file or the environment sets, validated. */
export interface GatewaySettings {
  routes: RouteConfig[] | undefined;
  allowAnonymous: boolean | undefined;
  suites: SuiteId[] | undefined;
  limits: Partial<SessionLimits> | undefined;
  originTimeoutMs: number | undefined;
  originBodyIdleTimeoutMs: number | undefined;
  channelPath: string | undefined;
  allowedOrigins: string[] | undefined;
  crypto: "auto" | "noble" | undefined;
  /** The tunneled-WebSocket caps (docs/websockets.md). */
  websockets: WebSocketSettings | undefined;
}

/** How one setting is read from a config file and from its environment variable. */
export interface Setting<T> {
  /** Its environment variable, if it has one. */
  readonly env?: (typeof GATEWAY_ENV_VARS)[number];
  /** Settable in a config file, under the option's name. */
  readonly file: boolean;
  /** The variable's text as the value a config file would hold; undefined when unset. */
  readonly decode?: (raw: string | undefined, where: Where) => unknown;
  /** Checks a value (from a file, or decoded); the error names `where`. */
  readonly check: (value: unknown, where: Where) => T;
}

// ---------------------------------------------------------------------------------------------
// Checks shared by file and environment (and, through options.ts, by createGateway)

function checkRoutes(v: unknown, where: Where): RouteConfig[] {
  if (!Array.isArray(v)) configFail(where, "must be an array of routes");
  try {
    compileRoutes(v as RouteConfig[]);
  } catch (e) {
    routeError(e, where);
  }
  return v as RouteConfig[];
}

function checkBoolean(v: unknown, where: Where): boolean {
  if (typeof v !== "boolean") configFail(where, "must be true or false");
  return v;
}

const SUITE_NAMES: Record<string, SuiteId> = {
  "aes-256-gcm": SUITE_XWING_AES256GCM,
  "chacha20-poly1305": SUITE_XWING_CHACHA20POLY1305,
};

/** Suite names or ids, in the gateway's preference order. */
function checkSuites(v: unknown, where: Where): SuiteId[] {
  if (!Array.isArray(v)) configFail(where, "must be an array");
  const ids = v.map((x, i) => {
    if (typeof x === "string" && Object.hasOwn(SUITE_NAMES, x.toLowerCase())) {
      return SUITE_NAMES[x.toLowerCase()];
    }
    if (typeof x === "number") return x;
    configFail(
      within(where, i),
      `unknown suite ${JSON.stringify(x)} (use "aes-256-gcm", "chacha20-poly1305", 1 or 2)`,
      ": ",
    );
  });
  return validateSuites(ids, where);
}

function checkLimits(v: unknown, where: Where): Partial<SessionLimits> {
  validateLimits(v, where);
  return v as Partial<SessionLimits>;
}

function checkAllowedOrigins(v: unknown, where: Where): string[] {
  const checked = originPolicy(v, formatConfigPath(where.path));
  if ("error" in checked) configFailWith(where, checked.error);
  return v as string[];
}

function checkCrypto(v: unknown, where: Where): "auto" | "noble" {
  if (v !== "auto" && v !== "noble") configFail(where, 'must be "auto" or "noble"');
  return v;
}

// ---------------------------------------------------------------------------------------------
// Environment strings

/**
 * JSON text as a value. JSON.parse's own message can quote the text around the error (a key
 * seed, a gatewayAuth secret), so only the position it reports is kept.
 */
function parseJsonText(text: string, where: Where): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    const at = /at position (\d+)/.exec(String((e as Error)?.message));
    const position = at ? ` (${lineAndColumn(text, Number(at[1]))})` : "";
    configFail(where, `${where.path.length === 0 ? "" : "is "}not valid JSON${position}`);
  }
}

function lineAndColumn(text: string, offset: number): string {
  const before = text.slice(0, offset).split("\n");
  return `line ${before.length} column ${before[before.length - 1].length + 1}`;
}

const blank = (raw: string | undefined): raw is undefined => raw === undefined || raw.trim() === "";

/** A JSON array (or object) variable; unset when blank. */
function decodeJson(kind: "array" | "object", detail: string) {
  return (raw: string | undefined, where: Where): unknown => {
    if (blank(raw)) return undefined;
    const j = parseJsonText(raw, where);
    const ok = kind === "array"
      ? Array.isArray(j)
      : typeof j === "object" && j !== null && !Array.isArray(j);
    if (!ok) configFail(where, detail);
    return j;
  };
}

function decodeBool(raw: string | undefined, where: Where): boolean | undefined {
  if (raw === undefined || raw === "") return undefined;
  if (raw === "true" || raw === "1") return true;
  if (raw === "false" || raw === "0") return false;
  configFail(where, 'must be "true" or "false"');
}

function decodeInt(allowZero: boolean) {
  return (raw: string | undefined, where: Where): number | undefined => {
    if (raw === undefined || raw === "") return undefined;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 0 || (n === 0 && !allowZero)) {
      configFail(where, `must be a ${allowZero ? "non-negative" : "positive"} integer`);
    }
    return n;
  };
}

/** A JSON array of strings, or a comma list. */
function decodeOriginList(raw: string | undefined, where: Where): string[] | undefined {
  if (blank(raw)) return undefined;
  const text = raw.trim();
  if (text.startsWith("[")) {
    const j = parseJsonText(text, where);
    if (!Array.isArray(j) || j.some((o) => typeof o !== "string")) {
      configFail(where, "must be a JSON array of origin strings");
    }
    return j as string[];
  }
  const list = text.split(",").map((o) => o.trim());
  if (list.some((o) => o === "")) configFail(where, "has an empty entry in its comma list");
  return list;
}

function decodeString(raw: string | undefined): string | undefined {
  return raw === undefined || raw === "" ? undefined : raw;
}

// ---------------------------------------------------------------------------------------------
// The settings a file and the environment share

type Settings = {
  readonly [K in keyof GatewaySettings]-?: Setting<Exclude<GatewaySettings[K], undefined>>;
};

/** Each gateway setting: its variable, how that decodes, and the one check of its value. */
export const GATEWAY_SETTINGS: Settings = {
  routes: {
    file: true,
    env: "PQGATE_ROUTES",
    decode: decodeJson("array", "must be a JSON array of routes"),
    check: checkRoutes,
  },
  allowAnonymous: {
    file: true,
    env: "PQGATE_ALLOW_ANONYMOUS",
    decode: decodeBool,
    check: checkBoolean,
  },
  suites: { file: true, check: checkSuites },
  limits: {
    file: true,
    env: "PQGATE_LIMITS",
    decode: decodeJson("object", "must be a JSON object"),
    check: checkLimits,
  },
  originTimeoutMs: {
    file: true,
    env: "PQGATE_ORIGIN_TIMEOUT_MS",
    decode: decodeInt(false),
    check: (v, where) => validatePositiveMs("originTimeoutMs", v, 0, where),
  },
  originBodyIdleTimeoutMs: {
    file: true,
    env: "PQGATE_ORIGIN_BODY_IDLE_TIMEOUT_MS",
    decode: decodeInt(true),
    check: (v, where) => validateOptionalMs("originBodyIdleTimeoutMs", v, 0, where),
  },
  channelPath: {
    file: true,
    check: (v, where) => (validateChannelPath(v, where), v as string),
  },
  allowedOrigins: {
    file: true,
    env: "PQGATE_ALLOWED_ORIGINS",
    decode: decodeOriginList,
    check: checkAllowedOrigins,
  },
  crypto: { file: false, env: "PQGATE_CRYPTO", decode: decodeString, check: checkCrypto },
  websockets: {
    file: true,
    env: "PQGATE_WEBSOCKETS",
    decode: decodeJson("object", "must be a JSON object"),
    check: (v, where) => (checkWebSocketSettings(v, where), v as WebSocketSettings),
  },
};

/** One setting from its variable: decoded, then checked (undefined when unset). */
function fromEnv<K extends keyof GatewaySettings>(
  name: K,
  raw: string | undefined,
): GatewaySettings[K] {
  const s = GATEWAY_SETTINGS[name] as Setting<GatewaySettings[K]>;
  const where: Where = { path: [s.env!] };
  const value = s.decode!(raw, where);
  return value === undefined ? undefined as GatewaySettings[K] : s.check(value, where);
}

export const parseRoutes = (raw: string | undefined): RouteConfig[] | undefined =>
  fromEnv("routes", raw);
export const parseLimits = (raw: string | undefined): Partial<SessionLimits> | undefined =>
  fromEnv("limits", raw);
export const parseCrypto = (raw: string | undefined): "auto" | "noble" | undefined =>
  fromEnv("crypto", raw);
/** PQGATE_ALLOWED_ORIGINS: a JSON array of origins, or a comma-separated list. */
export const parseAllowedOrigins = (raw: string | undefined): string[] | undefined =>
  fromEnv("allowedOrigins", raw);
/** A boolean variable `name`: "true"/"1", "false"/"0"; unset when empty. */
export const parseBool = (name: string, raw: string | undefined): boolean | undefined =>
  decodeBool(raw, { path: [name] });
/** An integer variable `name` (its range is the setting's check). */
export const parseMs = (
  name: string,
  raw: string | undefined,
  { allowZero = false }: { allowZero?: boolean } = {},
): number | undefined => decodeInt(allowZero)(raw, { path: [name] });

// ---------------------------------------------------------------------------------------------
// PQGATE_KEYS

function decodeSeed(s: unknown, at: Where): Uint8Array {
  if (typeof s !== "string") configFail(at, "seed must be a string", ": ");
  let seed: Uint8Array;
  try {
    seed = /^[0-9a-fA-F]{64}$/.test(s) ? fromHex(s) : fromBase64Url(s);
  } catch {
    configFail(at, "seed is neither 64 hex digits nor base64url", ": ");
  }
  if (seed.length !== XWING_SEED_LEN) {
    configFail(at, `seed must be ${XWING_SEED_LEN} bytes`, ": ");
  }
  return seed;
}

/**
 * Parses the PQGATE_KEYS secret into static keys (one X-Wing keygen per key). Its errors name
 * the entry and what is wrong, never a seed.
 */
export function parseKeys(raw: string | undefined): StaticKey[] {
  const where: Where = { path: ["PQGATE_KEYS"] };
  if (blank(raw)) {
    configFail(
      where,
      "is not set: on Workers `wrangler secret put PQGATE_KEYS` (docs/cloudflare.md), on Deno Deploy an environment variable (docs/deno-deploy.md)",
    );
  }
  const text = raw.trim();
  const j = text.startsWith("[") || text.startsWith("{") || text.startsWith('"')
    ? parseJsonText(text, where)
    : text; // a bare seed
  const list = Array.isArray(j) ? j : [j];
  if (list.length === 0) configFail(where, "must hold at least one key");
  const seen = new Set<string>();
  return list.map((entry, i) => {
    const at = within(where, i);
    let seedText: unknown = entry;
    let keyIdHex: unknown;
    let pin: unknown;
    if (typeof entry === "object" && entry !== null) {
      const o = entry as Record<string, unknown>;
      if (o.kem !== undefined && o.kem !== "X-Wing") {
        configFail(within(at, "kem"), 'must be "X-Wing"');
      }
      if (o.version !== undefined && o.version !== 1) {
        configFail(within(at, "version"), "must be 1");
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
      configFail(within(at, "key_id"), "does not match its seed");
    }
    if (pin !== undefined && pin !== pinFor(key.publicKey)) {
      configFail(within(at, "pin"), "does not match its seed");
    }
    if (seen.has(id)) configFail(at, `key ${id} is listed twice`, ": ");
    seen.add(id);
    return key;
  });
}

// ---------------------------------------------------------------------------------------------
// The environment

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
  websockets: WebSocketSettings | undefined;
  /**
   * Client authentication (PQGATE_AUTH, PQGATE_USERS, PQGATE_PSKS, PQGATE_TOKEN_SECRET), as
   * createGateway `auth` takes it.
   */
  auth: AuthOptions | undefined;
  /** PQGATE_LOG=off (the level itself: `parseLogLevel(env.PQGATE_LOG)`). */
  logOff: boolean;
}

/** Parses every PQGATE_* variable of `env` (ConfigError on the first bad one). */
export function gatewayOptionsFromEnv(env: GatewayEnv): EnvGatewayOptions {
  const routes = fromEnv("routes", env.PQGATE_ROUTES);
  const auth = checkAuthEnv(
    decodeJson("object", "must be a JSON object")(env.PQGATE_AUTH, { path: ["PQGATE_AUTH"] }),
    { users: env.PQGATE_USERS, psks: env.PQGATE_PSKS, tokenSecret: env.PQGATE_TOKEN_SECRET },
  );
  for (const u of unreachableAuthRoutes(routes, auth?.methods ?? [])) {
    configFail({ path: ["PQGATE_ROUTES", u.index, u.field] }, u.detail);
  }
  return {
    keys: parseKeys(env.PQGATE_KEYS),
    routes,
    allowAnonymous: fromEnv("allowAnonymous", env.PQGATE_ALLOW_ANONYMOUS),
    limits: fromEnv("limits", env.PQGATE_LIMITS),
    originTimeoutMs: fromEnv("originTimeoutMs", env.PQGATE_ORIGIN_TIMEOUT_MS),
    originBodyIdleTimeoutMs: fromEnv(
      "originBodyIdleTimeoutMs",
      env.PQGATE_ORIGIN_BODY_IDLE_TIMEOUT_MS,
    ),
    allowedOrigins: fromEnv("allowedOrigins", env.PQGATE_ALLOWED_ORIGINS),
    crypto: fromEnv("crypto", env.PQGATE_CRYPTO),
    websockets: fromEnv("websockets", env.PQGATE_WEBSOCKETS),
    auth: auth === undefined ? undefined : authOptionsFromEnv(auth),
    logOff: parseLogLevel(env.PQGATE_LOG) === "off",
  };
}

/** PQGATE_LOG: a level (unset: "info") or "off"; anything else is a ConfigError. */
export function parseLogLevel(raw: string | undefined): LogThreshold {
  return blank(raw) ? "info" : checkLogLevel(raw.trim(), { path: ["PQGATE_LOG"] });
}

/** A string that changes whenever one of the variables does (to cache a parsed gateway). */
export function envCacheKey(env: GatewayEnv): string {
  return JSON.stringify(GATEWAY_ENV_VARS.map((name) => env[name] ?? null));
}

/** The `service:NAME` origins of a route table: where a caller must provide NAME. */
export function serviceOrigins(
  routes: readonly RouteConfig[] | undefined,
): { index: number; name: string }[] {
  const out: { index: number; name: string }[] = [];
  for (const [index, r] of (routes ?? []).entries()) {
    const origin = typeof r?.origin === "string" ? r.origin : "";
    if (origin.startsWith("service:")) out.push({ index, name: origin.slice("service:".length) });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// A config file

/** The serveDeno / serveNode settings of a config file. */
export interface ServerSettings {
  port: number | undefined;
  hostname: string | undefined;
  maxChannelsPerAddress: number | undefined;
  maxHandshakesPerAddressPerMinute: number | undefined;
  maxSockets: number | undefined;
  maxHandshakesInFlight: number | undefined;
  closeTimeoutMs: number | undefined;
  headersTimeoutMs: number | undefined;
  /** Graceful shutdown's drain deadline (serveDeno / serveNode `drainTimeoutMs`). */
  drainTimeoutMs: number | undefined;
}

/** The log and metrics settings of a config file (docs/operations.md; flags win over them). */
export interface ObserveSettings {
  logLevel: LogThreshold | undefined;
  logFormat: LogFormat | undefined;
  /** Write request targets (authority, path) in access lines. */
  logRequestTargets: boolean | undefined;
  logClientAddresses: boolean | undefined;
  /** Write the authenticated subject of `auth` lines (user name, token `sub`, PSK identity). */
  logAuthSubjects: boolean | undefined;
  /** `host:port` of the metrics listener. */
  metricsListen: string | undefined;
}

/** The observe settings of a config file, in the order of docs/configuration.md. */
/** The config file's listening-server settings (ServerSettings' keys; restart-only on reload). */
export const SERVER_SETTINGS = [
  "port",
  "hostname",
  "maxChannelsPerAddress",
  "maxHandshakesPerAddressPerMinute",
  "maxSockets",
  "maxHandshakesInFlight",
  "closeTimeoutMs",
  "headersTimeoutMs",
  "drainTimeoutMs",
] as const satisfies readonly (keyof ServerSettings)[];

export const OBSERVE_SETTINGS = [
  "logLevel",
  "logFormat",
  "logRequestTargets",
  "logClientAddresses",
  "logAuthSubjects",
  "metricsListen",
] as const;

/** `--log-level` / `logLevel` / PQGATE_LOG. */
export function checkLogLevel(v: unknown, where: Where): LogThreshold {
  if (!(LOG_THRESHOLDS as readonly unknown[]).includes(v)) {
    configFail(where, `must be one of ${LOG_THRESHOLDS.join(", ")}, got ${JSON.stringify(v)}`);
  }
  return v as LogThreshold;
}

/** `--log-format` / `logFormat`. */
export function checkLogFormat(v: unknown, where: Where): LogFormat {
  if (!(LOG_FORMATS as readonly unknown[]).includes(v)) {
    configFail(where, `must be "json" or "text", got ${JSON.stringify(v)}`);
  }
  return v as LogFormat;
}

/** `--metrics-listen` / `metricsListen`: `host:port`, `[v6]:port` or a port. */
export function checkListen(v: unknown, where: Where): string {
  const ok = typeof v === "string" &&
    (/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-]+):(\d{1,5})$/.test(v) || /^\d{1,5}$/.test(v)) &&
    Number(/(\d+)$/.exec(v)![1]) <= 65535;
  if (!ok) configFail(where, `must be host:port (e.g. "127.0.0.1:9464"), got ${JSON.stringify(v)}`);
  return v as string;
}

/** A validated config file. Key file paths are as written (relative to the file). */
export interface ConfigFile {
  gateway: GatewaySettings & { routes: RouteConfig[] };
  server: ServerSettings;
  observe: ObserveSettings;
  keyFile: string | undefined;
  keys: string[] | undefined;
  /** Client authentication: methods, users / PSK file paths (as written), token, limits. */
  auth: AuthFileSettings | undefined;
}

/** A port number (a JSON number, or a string of digits). */
function checkPort(v: unknown, where: Where): number {
  const n = typeof v === "string" && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > 65535) {
    configFail(where, `must be a port number from 0 to 65535, got ${JSON.stringify(v)}`);
  }
  return n;
}

function checkInt(v: unknown, where: Where, min: number, max: number, range: string): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    configFail(where, `must be an integer from ${range}, got ${JSON.stringify(v)}`);
  }
  return v;
}

function admissionLimit(v: unknown, where: Where): number {
  return checkInt(v, where, 0, 0xffff_ffff, "0 (no limit) to 4294967295");
}

function serverTimeout(v: unknown, where: Where): number {
  return checkInt(v, where, 100, 60_000, "100 to 60000 (ms)");
}

/** The largest drain deadline (ms): serveDeno / serveNode MAX_DRAIN_TIMEOUT_MS. */
export const MAX_DRAIN_TIMEOUT_MS = 600_000;

function drainTimeout(v: unknown, where: Where): number {
  return checkInt(v, where, 0, MAX_DRAIN_TIMEOUT_MS, `0 to ${MAX_DRAIN_TIMEOUT_MS} (ms)`);
}

/**
 * A duration of the command line (`--drain-timeout`): `10s`, `500ms`, or a number of seconds
 * (`2.5`), 0 to 600 s; in ms. Throws ConfigError naming `what`.
 */
export function parseDurationMs(text: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(text.trim());
  const ms = m ? Math.round(Number(m[1]) * (m[2] === "ms" ? 1 : 1000)) : NaN;
  if (!Number.isFinite(ms) || ms > MAX_DRAIN_TIMEOUT_MS) {
    configFail(
      { source: what, path: [] },
      `must be a duration from 0 to 600s (e.g. 10s, 500ms, 2.5), got ${JSON.stringify(text)}`,
    );
  }
  return ms;
}

function nonEmptyString(v: unknown, where: Where, detail: string): string {
  if (typeof v !== "string" || v === "") configFail(where, detail);
  return v;
}

function checkKeyFiles(v: unknown, where: Where): string[] {
  if (!Array.isArray(v) || v.length === 0 || v.some((k) => typeof k !== "string" || k === "")) {
    configFail(where, "must be a non-empty array of key file paths");
  }
  return v as string[];
}

/** Every setting a config file may hold, in the order of docs/configuration.md. */
export const CONFIG_FILE_SETTINGS = [
  "port",
  "hostname",
  "keyFile",
  "keys",
  "routes",
  "allowAnonymous",
  "suites",
  "limits",
  "originTimeoutMs",
  "originBodyIdleTimeoutMs",
  "maxChannelsPerAddress",
  "maxHandshakesPerAddressPerMinute",
  "maxSockets",
  "maxHandshakesInFlight",
  "closeTimeoutMs",
  "headersTimeoutMs",
  "drainTimeoutMs",
  "channelPath",
  "allowedOrigins",
  "websockets",
  "auth",
  ...OBSERVE_SETTINGS,
] as const;

type FileSetting = (typeof CONFIG_FILE_SETTINGS)[number];

/** The check of each file setting (a function, so a bundle without file parsing drops it). */
function fileChecks(): Record<FileSetting, (v: unknown, where: Where) => unknown> {
  const g = GATEWAY_SETTINGS;
  return {
    port: checkPort,
    hostname: (v, w) => nonEmptyString(v, w, "must be a non-empty string"),
    keyFile: (v, w) => nonEmptyString(v, w, "must be a path"),
    keys: checkKeyFiles,
    routes: g.routes.check,
    allowAnonymous: g.allowAnonymous.check,
    suites: g.suites.check,
    limits: g.limits.check,
    originTimeoutMs: g.originTimeoutMs.check,
    originBodyIdleTimeoutMs: g.originBodyIdleTimeoutMs.check,
    maxChannelsPerAddress: admissionLimit,
    maxHandshakesPerAddressPerMinute: admissionLimit,
    maxSockets: admissionLimit,
    maxHandshakesInFlight: admissionLimit,
    closeTimeoutMs: serverTimeout,
    headersTimeoutMs: serverTimeout,
    drainTimeoutMs: drainTimeout,
    channelPath: g.channelPath.check,
    allowedOrigins: g.allowedOrigins.check,
    websockets: g.websockets.check,
    auth: checkAuthFile,
    logLevel: checkLogLevel,
    logFormat: checkLogFormat,
    logRequestTargets: checkBoolean,
    logClientAddresses: checkBoolean,
    logAuthSubjects: checkBoolean,
    metricsListen: checkListen,
  };
}

/**
 * Validates a parsed config file (`source` names it in errors: `pqgate.json: routes[0]...`).
 * Unknown settings are errors; `routes` is required; a file cannot provide `service:` origins.
 */
export function parseConfigFile(value: unknown, source: string): ConfigFile {
  const at = (...path: (string | number)[]): Where => ({ source, path });
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    configFail(at(), "must be a JSON object");
  }
  const c = value as Record<string, unknown>;
  const checks = fileChecks();
  for (const k of Object.keys(c)) {
    if (!Object.hasOwn(checks, k)) {
      configFail(at(k), `is not a known setting (known: ${CONFIG_FILE_SETTINGS.join(", ")})`);
    }
  }
  const v: Record<string, unknown> = {};
  for (const name of CONFIG_FILE_SETTINGS) {
    if (c[name] !== undefined) v[name] = checks[name](c[name], at(name));
  }
  if (v.keyFile !== undefined && v.keys !== undefined) {
    configFail(at("keyFile"), "and keys exclude each other");
  }
  if (v.routes === undefined) {
    configFail(
      at("routes"),
      "is required in a config file (the demo origin runs only without --config)",
    );
  }
  for (const { index, name } of serviceOrigins(v.routes as RouteConfig[])) {
    configFail(
      at("routes", index, "origin"),
      `is service:${name}, but a config file cannot provide services (service: origins are for createGateway({ services }) in code)`,
    );
  }
  const auth = v.auth as AuthFileSettings | undefined;
  for (const u of unreachableAuthRoutes(v.routes as RouteConfig[], auth?.methods ?? [])) {
    configFail(at("routes", u.index, u.field), u.detail);
  }
  const pick = <T>(names: readonly (keyof T)[]): T =>
    Object.fromEntries(names.map((n) => [n, v[n as string]])) as T;
  return {
    gateway: pick<ConfigFile["gateway"]>(
      Object.keys(GATEWAY_SETTINGS) as (keyof GatewaySettings)[],
    ),
    server: pick<ServerSettings>(SERVER_SETTINGS),
    observe: pick<ObserveSettings>(OBSERVE_SETTINGS),
    keyFile: v.keyFile as string | undefined,
    keys: v.keys as string[] | undefined,
    auth,
  };
}

/** A config file's text: JSON, then parseConfigFile. */
export function parseConfigText(text: string, source: string): ConfigFile {
  return parseConfigFile(parseJsonText(text, { source, path: [] }), source);
}
