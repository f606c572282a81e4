/**
 * From configuration to the credential verifier (docs/configuration.md §6): the checked `auth`
 * settings of a config file or the environment (auth-config.ts) plus the texts they name become
 * src/auth's `AuthOptions`; createGateway turns those (or a ready `AuthVerifier`) into the one
 * verifier every session gets, with a JWKS fetch that reaches only the route table's origins.
 * Errors are ConfigErrors naming the file or variable and the line, never a secret.
 */
// The modules themselves, not src/auth/mod.ts: its Argon2id re-exports would put WebAssembly
// types into every declaration that mentions these (a Node consumer's tsc has no WebAssembly).
import {
  type Argon2Backend,
  AuthConfigError,
  type AuthOptions,
  type TokenKey,
  type TokenOptions,
} from "../auth/options.ts";
import { createAuthVerifier } from "../auth/create-verifier.ts";
import { parsePskFile } from "../auth/psk-file.ts";
import { parseUsersFile } from "../auth/users-file.ts";
import type { RouteTable } from "../proxy/routes.ts";
import type { AuthVerifier, Env } from "../tunnel/types.ts";
import type { AuthEnvSettings, AuthFileSettings, TokenSettings } from "./auth-config.ts";
import { configFail, type Where, within } from "./config-error.ts";

/** createGateway `auth`: the verifier's options (it is built for you) or a verifier of your own. */
export type GatewayAuth = AuthVerifier | (AuthOptions & { argon2?: Argon2Backend });

/** True for a ready verifier (it has its `methods` set), false for options to build one from. */
export function isVerifier(a: GatewayAuth): a is AuthVerifier {
  return (a as AuthVerifier).methods instanceof Set;
}

/** What a config file's `auth` names, read: the files' texts and the token secret. */
export interface AuthTexts {
  users?: { text: string; source: string };
  psks?: { text: string; source: string };
  tokenSecret?: { text: string; source: string };
}

/** src/auth's parse errors (AuthConfigError) as a ConfigError of `where`; others rethrown. */
function asConfigError<T>(where: Where, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof AuthConfigError) configFail(where, e.message, ": ");
    throw e;
  }
}

/** A secret's text without the line end a file or `wrangler secret put` adds. */
function secretText(text: string): string {
  return text.replace(/\r?\n$/, "");
}

function tokenOptions(t: TokenSettings, secret: string | undefined): TokenOptions {
  const keys: TokenKey[] = (t.keys ?? []).map((k) => k as TokenKey);
  if (secret !== undefined) keys.push({ secret: secretText(secret), alg: "HS256" });
  const o: TokenOptions = {};
  if (t.algorithms) o.algorithms = t.algorithms;
  if (keys.length > 0) o.keys = keys;
  if (t.jwksUrl) o.jwksUrl = t.jwksUrl;
  if (t.issuer) o.issuer = t.issuer;
  if (t.audience) o.audience = t.audience;
  for (
    const k of [
      "clockToleranceSec",
      "jwksTimeoutMs",
      "jwksCooldownMs",
      "jwksCacheMaxAgeMs",
      "maxTokenLength",
    ] as const
  ) {
    if (t[k] !== undefined) o[k] = t[k];
  }
  return o;
}

/** A config file's `auth` and the texts it names (read by the caller) as AuthOptions. */
export function authOptionsFromFile(s: AuthFileSettings, texts: AuthTexts): AuthOptions {
  const o: AuthOptions = {};
  if (s.methods.includes("password")) {
    const u = texts.users!;
    o.password = {
      users: asConfigError({ source: u.source, path: [] }, () => parseUsersFile(u.text)),
    };
  }
  if (s.methods.includes("psk")) {
    const p = texts.psks!;
    o.psk = { keys: asConfigError({ source: p.source, path: [] }, () => parsePskFile(p.text)) };
  }
  if (s.methods.includes("token")) o.token = tokenOptions(s.token!, texts.tokenSecret?.text);
  if (s.limits) o.limits = s.limits;
  return o;
}

/** The environment's auth variables as AuthOptions (Workers, Deno Deploy). */
export function authOptionsFromEnv(s: AuthEnvSettings): AuthOptions {
  const o: AuthOptions = {};
  if (s.methods.includes("password")) {
    o.password = {
      users: asConfigError({ path: ["PQGATE_USERS"] }, () => parseUsersFile(s.users!)),
    };
  }
  if (s.methods.includes("psk")) {
    o.psk = { keys: asConfigError({ path: ["PQGATE_PSKS"] }, () => parsePskFile(s.psks!)) };
  }
  if (s.methods.includes("token")) o.token = tokenOptions(s.token ?? {}, s.tokenSecret);
  if (s.limits) o.limits = s.limits;
  return o;
}

/** The origins (scheme://host[:port]) of the route table's URL routes: where a JWKS may live. */
export function routeOrigins(routes: RouteTable): Set<string> {
  const out = new Set<string>();
  for (const r of routes.routes) {
    if (r.origin.kind === "url") out.add(new URL(r.origin.base).origin);
  }
  return out;
}

/**
 * `fetch` restricted to `origins`: anything else is refused before a connection, and redirects
 * are not followed (a 3xx fails the fetch), so a JWKS fetch never leaves the route table.
 */
export function allowlistedFetch(
  fetchImpl: (request: Request) => Promise<Response>,
  origins: ReadonlySet<string>,
): (input: string | URL | Request, init?: RequestInit) => Promise<Response> {
  return async (input, init) => {
    const request = new Request(input, { ...init, redirect: "manual" });
    if (!origins.has(new URL(request.url).origin)) {
      throw new TypeError("JWKS fetch refused: not an origin of the route table");
    }
    const res = await fetchImpl(request);
    if (res.status >= 300 && res.status < 400) {
      await res.body?.cancel();
      throw new TypeError("JWKS fetch refused: the origin redirected");
    }
    return res;
  };
}

/**
 * The verifier of createGateway option `auth` (`where`: options.auth), with its JWKS fetch
 * restricted to the route table's origins. A ready verifier is used as it is.
 */
export function buildAuthVerifier(
  auth: GatewayAuth,
  routes: RouteTable,
  fetchImpl: (request: Request) => Promise<Response>,
  env: Env,
  where: Where,
): AuthVerifier {
  if (isVerifier(auth)) return auth;
  if (typeof auth !== "object" || auth === null) {
    configFail(where, "must be AuthOptions or an AuthVerifier");
  }
  const { argon2, ...options } = auth;
  const jwks = options.token?.jwksUrl;
  const origins = routeOrigins(routes);
  if (jwks !== undefined) {
    let origin: string;
    try {
      origin = new URL(jwks).origin;
    } catch {
      configFail(within(where, "token", "jwksUrl"), "must be an absolute http(s) URL");
    }
    if (!origins.has(origin)) {
      configFail(
        within(where, "token", "jwksUrl"),
        `is on ${origin}, which is not the origin of any URL route (the gateway fetches keys only from origins it forwards to)`,
      );
    }
  }
  return asConfigError(where, () =>
    createAuthVerifier(options, {
      now: env.now,
      random: env.random,
      fetchJwks: allowlistedFetch(fetchImpl, origins),
      argon2,
    }));
}
