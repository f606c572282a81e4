/**
 * Configuration of the credential verifiers (docs/client-auth.md). The gateway maps its
 * configuration (docs/configuration.md) onto `AuthOptions` and calls `createAuthVerifier`
 * (create-verifier.ts). Every field has a stated default and bound; a value outside its bound is
 * an `AuthConfigError` when the verifier is created, never a silent clamp.
 */
import type { JWK } from "jose";
import type { UsersTable } from "./users-file.ts";

/** Token signature algorithms pqgate accepts; `none` and every other algorithm are refused. */
export type TokenAlgorithm = "EdDSA" | "ES256" | "HS256";
export const TOKEN_ALGORITHMS: readonly TokenAlgorithm[] = ["EdDSA", "ES256", "HS256"];

/** One verification key of the token method, from configuration. */
export type TokenKey =
  /** A public JWK (OKP Ed25519 or EC P-256) or an `oct` JWK for HS256; `alg` defaults to the JWK's. */
  | { jwk: JWK & { alg?: string; kid?: string }; alg?: TokenAlgorithm; kid?: string }
  /** An SPKI PEM (`-----BEGIN PUBLIC KEY-----`) public key. */
  | { pem: string; alg: "EdDSA" | "ES256"; kid?: string }
  /** An HS256 shared secret: at least 32 bytes (of its UTF-8). */
  | { secret: string | Uint8Array; alg?: "HS256"; kid?: string };

export interface PasswordOptions {
  /** The users, from `parseUsersFile` (users-file.ts) of the users file or secret text. */
  users: UsersTable;
}

export interface TokenOptions {
  /** Accepted algorithms, a subset of TOKEN_ALGORITHMS. Default: all three. */
  algorithms?: readonly TokenAlgorithm[];
  /** Keys from configuration. With `jwksUrl` too, both are tried (config keys first). */
  keys?: readonly TokenKey[];
  /**
   * A JWKS URL (https, or http for loopback in tests). Fetched through `AuthDeps.fetchJwks`,
   * which the gateway restricts to its allowlisted origins; required when this is set.
   */
  jwksUrl?: string;
  /** JWKS fetch timeout, ms. Default 5000, range 100..30000. */
  jwksTimeoutMs?: number;
  /** Minimum time between JWKS refetches (for an unknown `kid`), ms. Default 30000, range 1000..3600000. */
  jwksCooldownMs?: number;
  /** How long a fetched JWKS counts as fresh, ms. Default 600000, range 1000..86400000. */
  jwksCacheMaxAgeMs?: number;
  /** Required `iss` when set (a token without it, or with another, is `token_invalid`). */
  issuer?: string;
  /** Required `aud` when set (one of these). */
  audience?: string | readonly string[];
  /** Clock tolerance for `exp` / `nbf`, seconds. Default 5, range 0..300. */
  clockToleranceSec?: number;
  /** Longest token accepted, in characters. Default and maximum 8192. */
  maxTokenLength?: number;
}

export interface PskOptions {
  /** identity -> 32-byte key, from `parsePskFile` (psk-file.ts). */
  keys: ReadonlyMap<string, Uint8Array>;
}

export interface LimitOptions {
  /** Password verifications running at once per process. Default 2, range 1..64. */
  maxInFlight?: number;
  /** Verifications waiting for a slot; over it the answer is `busy`. Default 8, range 0..1024. */
  maxWaiting?: number;
  /** Longest wait for a slot before `busy`, ms. Default 2000, range 10..60000. */
  maxWaitMs?: number;
  /** Failures allowed before backoff starts (per address, per user). Default 5, range 1..100. */
  freeFailures?: number;
  /** First backoff, ms; doubles with each further failure. Default 1000, range 1..60000. */
  backoffBaseMs?: number;
  /** Longest backoff, ms. Default 300000 (5 min), range backoffBaseMs..86400000. */
  backoffMaxMs?: number;
  /** A failure record is forgotten this long after its last failure, ms. Default 900000 (15 min). */
  failureTtlMs?: number;
  /** Entries in each failure table (addresses, users): least recently failed dropped first. Default 10000, range 16..1000000. */
  maxTrackedKeys?: number;
}

export interface AuthOptions {
  /** Enables `password` (Argon2id PHC strings). */
  password?: PasswordOptions;
  /** Enables `token` (JWT). */
  token?: TokenOptions;
  /** Enables `psk`. */
  psk?: PskOptions;
  /** Bounds on password verification and failed attempts. */
  limits?: LimitOptions;
}

/** What the verifier needs from its host; injected so tests control time and the network. */
export interface AuthDeps {
  /** Wall clock, ms since the epoch. Default Date.now. */
  now?: () => number;
  /** Cryptographic random bytes. Default crypto.getRandomValues. */
  random?: (n: number) => Uint8Array;
  /** The fetch used for `jwksUrl` (required when it is set): the gateway's origin-allowlisted fetch. */
  fetchJwks?: (input: string | URL | Request, init?: RequestInit) => Promise<Response>;
  /**
   * The Argon2id verification backend. Default: `mainThreadArgon2` (argon2.ts); on Deno the
   * gateway passes `createArgon2WorkerPool` (argon2-pool.ts) so verifications leave the main thread.
   */
  argon2?: Argon2Backend;
}

/** Computes Argon2id tags; the only place a password is hashed. */
export interface Argon2Backend {
  /** The `params.hashLength`-byte Argon2id tag of `password` with `salt`. */
  hash(password: Uint8Array, salt: Uint8Array, params: Argon2Params): Promise<Uint8Array>;
  /** Releases threads, if any. */
  close?(): void;
}

export interface Argon2Params {
  /** Memory, KiB. */
  m: number;
  /** Passes. */
  t: number;
  /** Lanes. */
  p: number;
  /** Tag length, bytes. */
  hashLength: number;
}

/** Qeli's parameters, the default for new hashes and for the dummy hash of unknown users. */
export const DEFAULT_ARGON2: Readonly<Argon2Params> = { m: 19456, t: 2, p: 1, hashLength: 32 };

/** A configuration value out of bounds or unreadable. Names the line or field; never a secret. */
export class AuthConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AuthConfigError";
  }
}
