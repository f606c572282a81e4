/**
 * The `auth` section of a config file and the PQGATE_AUTH / PQGATE_USERS / PQGATE_PSKS /
 * PQGATE_TOKEN_SECRET variables (docs/configuration.md "Client authentication"): checked here
 * with config.ts's errors (`pqgate.json: auth.token.jwksUrl ...`), never echoing a secret.
 * What this yields are the method SOURCES (file paths, or the secret texts of the
 * environment); auth-options.ts turns texts into the verifier's AuthOptions.
 *
 * A config file:
 *
 *   "auth": {
 *     "methods": ["password", "token", "psk"],   // optional: default = every method configured
 *     "usersFile": "users.txt",                    // password: Argon2id PHC lines (pqgate passwd)
 *     "pskFile": "psks.txt",                       // psk: identity + 32-byte key lines
 *     "token": {
 *       "issuer": "https://id.example.com", "audience": "my-api",
 *       "algorithms": ["EdDSA", "ES256"],
 *       "jwksUrl": "https://id.example.com/.well-known/jwks.json",  // an origin of the routes
 *       "keys": [{ "jwk": { ... } }, { "pem": "-----BEGIN PUBLIC KEY-----...", "alg": "ES256" }],
 *       "secretEnv": "API_JWT_SECRET" | "secretFile": "jwt-secret.txt",  // HS256
 *       "clockToleranceSec": 5
 *     },
 *     "limits": { "maxInFlight": 2, "maxWaiting": 8, "maxWaitMs": 2000, "freeFailures": 5,
 *                 "backoffBaseMs": 1000, "backoffMaxMs": 300000 }
 *   }
 *
 * The environment (Workers, Deno Deploy): PQGATE_USERS (the users file's text, a secret),
 * PQGATE_PSKS (the PSK file's text, a secret), PQGATE_TOKEN_SECRET (an HS256 secret) and
 * PQGATE_AUTH (JSON: `methods`, `token` without secretEnv / secretFile, `limits`).
 */
import type { AuthMethod } from "../tunnel/types.ts";
import { AUTH_METHODS } from "../proxy/auth-policy.ts";
import { configFail, type Where, within } from "./config-error.ts";

export type TokenAlgorithm = "EdDSA" | "ES256" | "HS256";
export const TOKEN_ALGORITHMS: readonly TokenAlgorithm[] = ["EdDSA", "ES256", "HS256"];

/** A token verification key written in configuration (public keys only: secrets come apart). */
export type TokenKeyConfig =
  | { jwk: Record<string, unknown>; alg?: TokenAlgorithm }
  | { pem: string; alg: "EdDSA" | "ES256"; kid?: string };

/** The token method's settings (AuthOptions `token`, src/auth/options.ts, minus the secret). */
export interface TokenSettings {
  issuer?: string;
  audience?: string | string[];
  algorithms?: TokenAlgorithm[];
  jwksUrl?: string;
  keys?: TokenKeyConfig[];
  /** HS256 secret: the environment variable holding it (config file only). */
  secretEnv?: string;
  /** HS256 secret: a file holding it, relative to the config file (config file only). */
  secretFile?: string;
  clockToleranceSec?: number;
  jwksTimeoutMs?: number;
  jwksCooldownMs?: number;
  jwksCacheMaxAgeMs?: number;
  maxTokenLength?: number;
}

/** The verification bounds (AuthOptions `limits`); ranges are the verifier's own. */
export const AUTH_LIMIT_NAMES = [
  "maxInFlight",
  "maxWaiting",
  "maxWaitMs",
  "freeFailures",
  "backoffBaseMs",
  "backoffMaxMs",
  "failureTtlMs",
  "maxTrackedKeys",
] as const;
export type AuthLimits = { [K in (typeof AUTH_LIMIT_NAMES)[number]]?: number };

/** A config file's `auth`, checked (paths as written, relative to the config file). */
export interface AuthFileSettings {
  /** The enabled methods. */
  methods: AuthMethod[];
  usersFile: string | undefined;
  pskFile: string | undefined;
  token: TokenSettings | undefined;
  limits: AuthLimits | undefined;
}

const FILE_KEYS = ["methods", "usersFile", "pskFile", "token", "limits"] as const;
const ENV_KEYS = ["methods", "token", "limits"] as const;
const TOKEN_KEYS = [
  "issuer",
  "audience",
  "algorithms",
  "jwksUrl",
  "keys",
  "secretEnv",
  "secretFile",
  "clockToleranceSec",
  "jwksTimeoutMs",
  "jwksCooldownMs",
  "jwksCacheMaxAgeMs",
  "maxTokenLength",
] as const;
const TOKEN_INTS = [
  "clockToleranceSec",
  "jwksTimeoutMs",
  "jwksCooldownMs",
  "jwksCacheMaxAgeMs",
  "maxTokenLength",
] as const;

function object(v: unknown, where: Where): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    configFail(where, "must be an object");
  }
  return v as Record<string, unknown>;
}

function known(o: Record<string, unknown>, names: readonly string[], where: Where): void {
  for (const k of Object.keys(o)) {
    if (!names.includes(k)) {
      configFail(within(where, k), `is not a known setting (known: ${names.join(", ")})`);
    }
  }
}

function text(v: unknown, where: Where, what = "a non-empty string"): string {
  if (typeof v !== "string" || v === "" || v.length > 4096) configFail(where, `must be ${what}`);
  return v;
}

function uint(v: unknown, where: Where): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    configFail(where, `must be a non-negative integer, got ${JSON.stringify(v)}`);
  }
  return v;
}

function checkMethods(v: unknown, where: Where): AuthMethod[] {
  if (!Array.isArray(v)) configFail(where, `must be an array of ${AUTH_METHODS.join(", ")}`);
  const seen = new Set<AuthMethod>();
  v.forEach((m, i) => {
    if (!(AUTH_METHODS as readonly unknown[]).includes(m)) {
      configFail(
        within(where, i),
        `must be one of ${AUTH_METHODS.join(", ")}, got ${JSON.stringify(m)}`,
      );
    }
    if (seen.has(m)) configFail(within(where, i), `lists ${m} twice`);
    seen.add(m);
  });
  return [...seen];
}

function checkLimits(v: unknown, where: Where): AuthLimits {
  const o = object(v, where);
  known(o, AUTH_LIMIT_NAMES, where);
  const out: AuthLimits = {};
  for (const k of AUTH_LIMIT_NAMES) if (o[k] !== undefined) out[k] = uint(o[k], within(where, k));
  return out;
}

function checkKey(v: unknown, where: Where): TokenKeyConfig {
  const o = object(v, where);
  if (o.secret !== undefined || (typeof o.jwk === "object" && o.jwk !== null && "k" in o.jwk)) {
    // An HS256 secret in the config text would be copied wherever the config is.
    configFail(where, "holds a secret: give an HS256 secret as secretEnv or secretFile");
  }
  if (o.jwk !== undefined) {
    known(o, ["jwk", "alg"], where);
    object(o.jwk, within(where, "jwk"));
    if ("d" in (o.jwk as object)) {
      configFail(within(where, "jwk"), "is a private key: give the public key");
    }
    if (o.alg !== undefined) checkAlg(o.alg, within(where, "alg"));
    return o as TokenKeyConfig;
  }
  if (o.pem !== undefined) {
    known(o, ["pem", "alg", "kid"], where);
    const pem = text(o.pem, within(where, "pem"), "a PEM public key");
    if (!pem.includes("-----BEGIN PUBLIC KEY-----")) {
      configFail(within(where, "pem"), "must be a -----BEGIN PUBLIC KEY----- (SPKI) PEM");
    }
    if (o.alg !== "EdDSA" && o.alg !== "ES256") {
      configFail(within(where, "alg"), 'must be "EdDSA" or "ES256" for a PEM key');
    }
    if (o.kid !== undefined) text(o.kid, within(where, "kid"));
    return o as TokenKeyConfig;
  }
  configFail(where, 'must be { "jwk": {...} } or { "pem": "...", "alg": "EdDSA" | "ES256" }');
}

function checkAlg(v: unknown, where: Where): TokenAlgorithm {
  if (!(TOKEN_ALGORITHMS as readonly unknown[]).includes(v)) {
    configFail(where, `must be one of ${TOKEN_ALGORITHMS.join(", ")}, got ${JSON.stringify(v)}`);
  }
  return v as TokenAlgorithm;
}

function checkToken(v: unknown, where: Where, file: boolean): TokenSettings {
  const o = object(v, where);
  known(
    o,
    file ? TOKEN_KEYS : TOKEN_KEYS.filter((k) => k !== "secretEnv" && k !== "secretFile"),
    where,
  );
  const t: TokenSettings = {};
  if (o.issuer !== undefined) t.issuer = text(o.issuer, within(where, "issuer"));
  if (o.audience !== undefined) {
    const a = o.audience;
    if (Array.isArray(a)) {
      if (a.length === 0) configFail(within(where, "audience"), "must not be empty");
      t.audience = a.map((x, i) => text(x, within(where, "audience", i)));
    } else t.audience = text(a, within(where, "audience"), "a string or an array of strings");
  }
  if (o.algorithms !== undefined) {
    if (!Array.isArray(o.algorithms) || o.algorithms.length === 0) {
      configFail(
        within(where, "algorithms"),
        `must be a non-empty array of ${TOKEN_ALGORITHMS.join(", ")}`,
      );
    }
    t.algorithms = [
      ...new Set(o.algorithms.map((x, i) => checkAlg(x, within(where, "algorithms", i)))),
    ];
  }
  if (o.jwksUrl !== undefined) {
    const u = text(o.jwksUrl, within(where, "jwksUrl"), "an absolute http(s) URL");
    let url: URL;
    try {
      url = new URL(u);
    } catch {
      configFail(within(where, "jwksUrl"), "must be an absolute http(s) URL");
    }
    if ((url.protocol !== "https:" && url.protocol !== "http:") || url.username || url.password) {
      configFail(within(where, "jwksUrl"), "must be an http(s) URL without userinfo");
    }
    t.jwksUrl = u;
  }
  if (o.keys !== undefined) {
    if (!Array.isArray(o.keys) || o.keys.length === 0) {
      configFail(within(where, "keys"), "must be a non-empty array of keys");
    }
    t.keys = o.keys.map((k, i) => checkKey(k, within(where, "keys", i)));
  }
  if (o.secretEnv !== undefined) {
    const name = text(o.secretEnv, within(where, "secretEnv"), "an environment variable name");
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,127}$/.test(name)) {
      configFail(within(where, "secretEnv"), "must be an environment variable name");
    }
    t.secretEnv = name;
  }
  if (o.secretFile !== undefined) {
    t.secretFile = text(o.secretFile, within(where, "secretFile"), "a path");
  }
  if (t.secretEnv !== undefined && t.secretFile !== undefined) {
    configFail(within(where, "secretEnv"), "and secretFile exclude each other");
  }
  for (const k of TOKEN_INTS) if (o[k] !== undefined) t[k] = uint(o[k], within(where, k));
  return t;
}

/** A token section names at least one source of keys (else no token could ever verify). */
export function tokenHasKeys(t: TokenSettings, envSecret: boolean): boolean {
  return t.jwksUrl !== undefined || (t.keys?.length ?? 0) > 0 || t.secretEnv !== undefined ||
    t.secretFile !== undefined || envSecret;
}

/**
 * The enabled methods: `methods` as given (each needs its source), else every method whose
 * source is configured. A source of a method left out of `methods` is an error: it would be
 * read and never used, which is a configuration mistake more often than a wish.
 */
function enabledMethods(
  methods: AuthMethod[] | undefined,
  has: Record<AuthMethod, boolean>,
  where: Where,
  sourceName: Record<AuthMethod, string>,
): AuthMethod[] {
  if (methods === undefined) return AUTH_METHODS.filter((m) => has[m]);
  for (const m of methods) {
    if (!has[m]) {
      configFail(within(where, "methods"), `lists ${m}, but ${sourceName[m]} is not set`);
    }
  }
  for (const m of AUTH_METHODS) {
    if (has[m] && !methods.includes(m)) {
      configFail(within(where, "methods"), `leaves out ${m}, but ${sourceName[m]} is set`);
    }
  }
  return methods;
}

/** Checks a config file's `auth` value. */
export function checkAuthFile(v: unknown, where: Where): AuthFileSettings {
  const o = object(v, where);
  known(o, FILE_KEYS, where);
  const methods = o.methods === undefined
    ? undefined
    : checkMethods(o.methods, within(where, "methods"));
  const usersFile = o.usersFile === undefined
    ? undefined
    : text(o.usersFile, within(where, "usersFile"), "a path");
  const pskFile = o.pskFile === undefined
    ? undefined
    : text(o.pskFile, within(where, "pskFile"), "a path");
  const token = o.token === undefined
    ? undefined
    : checkToken(o.token, within(where, "token"), true);
  if (token !== undefined && !tokenHasKeys(token, false)) {
    configFail(within(where, "token"), "needs jwksUrl, keys, secretEnv or secretFile");
  }
  const limits = o.limits === undefined
    ? undefined
    : checkLimits(o.limits, within(where, "limits"));
  const enabled = enabledMethods(
    methods,
    { password: usersFile !== undefined, token: token !== undefined, psk: pskFile !== undefined },
    where,
    { password: "usersFile", token: "token", psk: "pskFile" },
  );
  if (enabled.length === 0) configFail(where, "enables no method: set usersFile, token or pskFile");
  return { methods: enabled, usersFile, pskFile, token, limits };
}

/** What the environment says about client authentication, checked (texts not yet parsed). */
export interface AuthEnvSettings {
  methods: AuthMethod[];
  /** PQGATE_USERS: the users file's text. */
  users: string | undefined;
  /** PQGATE_PSKS: the PSK file's text. */
  psks: string | undefined;
  token: TokenSettings | undefined;
  /** PQGATE_TOKEN_SECRET: an HS256 secret. */
  tokenSecret: string | undefined;
  limits: AuthLimits | undefined;
}

/** The auth variables of an environment; undefined when none is set. */
export function checkAuthEnv(
  auth: unknown,
  vars: { users?: string; psks?: string; tokenSecret?: string },
): AuthEnvSettings | undefined {
  const blank = (s: string | undefined) => s === undefined || s.trim() === "";
  const users = blank(vars.users) ? undefined : vars.users;
  const psks = blank(vars.psks) ? undefined : vars.psks;
  const tokenSecret = blank(vars.tokenSecret) ? undefined : vars.tokenSecret;
  if (auth === undefined && !users && !psks && !tokenSecret) return undefined;
  const where: Where = { path: ["PQGATE_AUTH"] };
  const o = auth === undefined ? {} : object(auth, where);
  known(o, ENV_KEYS, where);
  const methods = o.methods === undefined
    ? undefined
    : checkMethods(o.methods, within(where, "methods"));
  let token = o.token === undefined
    ? undefined
    : checkToken(o.token, within(where, "token"), false);
  if (token === undefined && tokenSecret !== undefined) token = {};
  if (token !== undefined && !tokenHasKeys(token, tokenSecret !== undefined)) {
    configFail(within(where, "token"), "needs jwksUrl, keys or the PQGATE_TOKEN_SECRET secret");
  }
  const limits = o.limits === undefined
    ? undefined
    : checkLimits(o.limits, within(where, "limits"));
  const enabled = enabledMethods(
    methods,
    { password: users !== undefined, token: token !== undefined, psk: psks !== undefined },
    where,
    { password: "PQGATE_USERS", token: "PQGATE_AUTH.token", psk: "PQGATE_PSKS" },
  );
  if (enabled.length === 0) {
    configFail(where, "enables no method: set PQGATE_USERS, token or PQGATE_PSKS");
  }
  return { methods: enabled, users, psks, token, tokenSecret, limits };
}

/**
 * Routes that ask for client authentication no enabled method can give: `auth` "optional" or
 * "required" whose `authMethods` (default: all) share none with `enabled`. Such a route could
 * never see an identity (a required one would answer every request 401), so it is refused.
 */
export function unreachableAuthRoutes(
  routes: readonly { auth?: unknown; authMethods?: unknown }[] | undefined,
  enabled: readonly AuthMethod[],
): { index: number; field: "auth" | "authMethods"; detail: string }[] {
  const out: { index: number; field: "auth" | "authMethods"; detail: string }[] = [];
  for (const [index, r] of (routes ?? []).entries()) {
    if (r?.auth !== "optional" && r?.auth !== "required") continue;
    const accepted = Array.isArray(r.authMethods) ? r.authMethods as AuthMethod[] : AUTH_METHODS;
    if (accepted.some((m) => enabled.includes(m))) continue;
    out.push(
      enabled.length === 0
        ? {
          index,
          field: "auth",
          detail: `is ${r.auth}, but no client authentication method is enabled (auth)`,
        }
        : {
          index,
          field: "authMethods",
          detail: `accepts only ${accepted.join(", ")}, none of which is enabled (enabled: ${
            enabled.join(", ")
          })`,
        },
    );
  }
  return out;
}
