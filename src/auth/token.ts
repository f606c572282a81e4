/**
 * The token method: a JWT verified with `jose` against keys from configuration and/or a JWKS URL.
 *
 * - Algorithms: an allowlist within EdDSA, ES256, HS256 (`none` and all others refused; a key
 *   is only used for its own algorithm, so an HS256 token cannot be "verified" with a public key).
 * - Claims: `sub` and `exp` required; `nbf` checked when present; `iss` / `aud` required and
 *   checked when configured; clock tolerance `clockToleranceSec`.
 * - Tokens longer than `maxTokenLength` (at most 8192) are refused before parsing.
 * - JWKS: jose's createRemoteJWKSet over the injected fetch (the gateway's allowlisted-origin
 *   fetch), with its timeout, cooldown between refetches and cache max age: at most one fetch
 *   per cooldown, however many tokens name an unknown `kid`.
 * - Failures: `token_expired` for an expired token, `busy` when the JWKS could not be fetched in
 *   time, `token_invalid` for everything else. jose's messages are not passed on.
 */
import {
  createRemoteJWKSet,
  customFetch,
  errors,
  type FlattenedJWSInput,
  importJWK,
  importSPKI,
  type JWTHeaderParameters,
  jwtVerify,
} from "jose";
import type { AuthOutcome } from "../tunnel/types.ts";
import {
  AuthConfigError,
  type AuthDeps,
  TOKEN_ALGORITHMS,
  type TokenAlgorithm,
  type TokenKey,
  type TokenOptions,
} from "./options.ts";

export const MAX_TOKEN_LENGTH = 8192;
export const MIN_HS256_SECRET_BYTES = 32;

type Key = CryptoKey | Uint8Array;
interface ImportedKey {
  alg: TokenAlgorithm;
  kid?: string;
  key: Key;
}

function range(name: string, v: number | undefined, def: number, min: number, max: number) {
  const x = v ?? def;
  if (!Number.isFinite(x) || x < min || x > max) {
    throw new AuthConfigError(`token: ${name} must be in ${min}..${max}`);
  }
  return x;
}

export class TokenVerifier {
  readonly algorithms: TokenAlgorithm[];
  readonly maxTokenLength: number;
  readonly clockTolerance: number;
  readonly #keys: Promise<ImportedKey[]>;
  readonly #jwks: ReturnType<typeof createRemoteJWKSet> | null;

  constructor(
    readonly options: TokenOptions,
    readonly deps: Required<Pick<AuthDeps, "now">> & AuthDeps,
  ) {
    const algs = options.algorithms ?? TOKEN_ALGORITHMS;
    if (algs.length === 0 || algs.some((a) => !TOKEN_ALGORITHMS.includes(a))) {
      throw new AuthConfigError(
        `token: algorithms must be a non-empty subset of ${TOKEN_ALGORITHMS.join(", ")}`,
      );
    }
    this.algorithms = [...new Set(algs)];
    this.maxTokenLength = range(
      "maxTokenLength",
      options.maxTokenLength,
      MAX_TOKEN_LENGTH,
      16,
      MAX_TOKEN_LENGTH,
    );
    this.clockTolerance = range("clockToleranceSec", options.clockToleranceSec, 5, 0, 300);
    if (!options.keys?.length && !options.jwksUrl) {
      throw new AuthConfigError("token: needs keys or a jwksUrl");
    }
    if (options.jwksUrl) {
      if (!deps.fetchJwks) {
        throw new AuthConfigError("token: jwksUrl needs the gateway's JWKS fetch");
      }
      let url: URL;
      try {
        url = new URL(options.jwksUrl);
      } catch {
        throw new AuthConfigError("token: jwksUrl is not a URL");
      }
      if (url.protocol !== "https:" && url.protocol !== "http:") {
        throw new AuthConfigError("token: jwksUrl must be http(s)");
      }
      const fetchJwks = deps.fetchJwks;
      this.#jwks = createRemoteJWKSet(url, {
        timeoutDuration: range("jwksTimeoutMs", options.jwksTimeoutMs, 5000, 100, 30_000),
        cooldownDuration: range("jwksCooldownMs", options.jwksCooldownMs, 30_000, 1000, 3_600_000),
        cacheMaxAge: range(
          "jwksCacheMaxAgeMs",
          options.jwksCacheMaxAgeMs,
          600_000,
          1000,
          86_400_000,
        ),
        [customFetch]: (u, init) => fetchJwks(u, init),
      });
    } else this.#jwks = null;
    for (const k of options.keys ?? []) checkKeyShape(k, this.algorithms);
    this.#keys = Promise.all((options.keys ?? []).map(importKey));
    this.#keys.catch(() => {}); // surfaced by ready() and as token_invalid, never unhandled
  }

  /** Resolves once the configured keys are imported; rejects with AuthConfigError if one is not a key. */
  async ready(): Promise<void> {
    try {
      await this.#keys;
    } catch {
      throw new AuthConfigError("token: a configured key could not be imported");
    }
  }

  async verify(token: string, _clientAddress: string | null): Promise<AuthOutcome> {
    if (typeof token !== "string" || token.length === 0 || token.length > this.maxTokenLength) {
      return { ok: false, reason: "token_invalid" };
    }
    let keys: ImportedKey[];
    try {
      keys = await this.#keys;
    } catch {
      return { ok: false, reason: "token_invalid" };
    }
    const jwks = this.#jwks;
    const getKey = (header: JWTHeaderParameters, input: FlattenedJWSInput) => {
      const alg = header.alg as TokenAlgorithm;
      const k = keys.find((k) =>
        k.alg === alg && (header.kid === undefined || k.kid === undefined || k.kid === header.kid)
      );
      if (k) return k.key;
      if (jwks && alg !== "HS256") return jwks(header, input);
      throw new errors.JWKSNoMatchingKey();
    };
    try {
      const { payload } = await jwtVerify(token, getKey, {
        algorithms: this.algorithms,
        issuer: this.options.issuer,
        audience: this.options.audience as string | string[] | undefined,
        clockTolerance: this.clockTolerance,
        currentDate: new Date(this.deps.now()),
        requiredClaims: ["sub", "exp"],
      });
      if (typeof payload.sub !== "string" || payload.sub.length === 0 || payload.sub.length > 256) {
        return { ok: false, reason: "token_invalid" };
      }
      return {
        ok: true,
        identity: {
          method: "token",
          subject: payload.sub,
          ...(typeof payload.iss === "string" ? { issuer: payload.iss } : {}),
          expiresAt: (payload.exp as number) * 1000,
        },
      };
    } catch (e) {
      if (e instanceof errors.JWTExpired) return { ok: false, reason: "token_expired" };
      if (e instanceof errors.JWKSTimeout) return { ok: false, reason: "busy", retryAfterMs: 1000 };
      return { ok: false, reason: "token_invalid" };
    }
  }
}

function keyAlg(k: TokenKey): TokenAlgorithm | undefined {
  if ("secret" in k) return "HS256";
  if ("pem" in k) return k.alg;
  return k.alg ?? (k.jwk.alg as TokenAlgorithm | undefined) ??
    (k.jwk.kty === "oct"
      ? "HS256"
      : k.jwk.kty === "OKP"
      ? "EdDSA"
      : k.jwk.kty === "EC"
      ? "ES256"
      : undefined);
}

function checkKeyShape(k: TokenKey, algs: readonly TokenAlgorithm[]): void {
  const alg = keyAlg(k);
  if (!alg || !TOKEN_ALGORITHMS.includes(alg)) {
    throw new AuthConfigError("token: a key's algorithm is not one of EdDSA, ES256, HS256");
  }
  if (!algs.includes(alg)) {
    throw new AuthConfigError(`token: a key is ${alg}, not an allowed algorithm`);
  }
  if ("secret" in k) {
    const n = typeof k.secret === "string"
      ? new TextEncoder().encode(k.secret).length
      : k.secret.length;
    if (n < MIN_HS256_SECRET_BYTES) {
      throw new AuthConfigError(
        `token: an HS256 secret must be at least ${MIN_HS256_SECRET_BYTES} bytes`,
      );
    }
  }
  if ("jwk" in k && "d" in k.jwk) {
    throw new AuthConfigError("token: a key is a private JWK (give the public key)");
  }
}

async function importKey(k: TokenKey): Promise<ImportedKey> {
  const alg = keyAlg(k) as TokenAlgorithm;
  if ("secret" in k) {
    const key = typeof k.secret === "string"
      ? new TextEncoder().encode(k.secret)
      : k.secret.slice();
    return { alg, kid: k.kid, key };
  }
  if ("pem" in k) return { alg, kid: k.kid, key: await importSPKI(k.pem, alg) };
  const key = await importJWK(k.jwk, alg);
  return { alg, kid: k.kid ?? k.jwk.kid, key: key as Key };
}
