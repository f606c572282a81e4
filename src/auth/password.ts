/**
 * The password method: a user name and password checked against the user's Argon2id PHC string
 * (users-file.ts), within the bounds of limits.ts.
 *
 * - Unknown user (or a name outside the user-name charset): one verification against a dummy
 *   hash with the default parameters and a random salt, made when the verifier is built, and
 *   the same `bad_credentials` as a wrong password, so neither the answer nor its timing tells
 *   which users exist (users whose hash has non-default parameters cost their own parameters).
 * - An empty password or one longer than 1024 bytes is `bad_credentials` without a
 *   verification; this depends only on what the client sent, not on which users exist.
 * - Tags are compared in constant time (@noble/ciphers `equalBytes`).
 * - Backoff per client address and per user name: a refused attempt runs no verification.
 */
import { equalBytes } from "@noble/ciphers/utils.js";
import type { AuthOutcome } from "../tunnel/types.ts";
import { FailureTable, type Limits, VerificationGate } from "./limits.ts";
import { type Argon2Backend, DEFAULT_ARGON2 } from "./options.ts";
import type { PhcHash } from "./phc.ts";
import { USER_NAME_RE, type UsersTable } from "./users-file.ts";

export const MIN_PASSWORD_BYTES = 1;
export const MAX_PASSWORD_BYTES = 1024;
/** The retry-after a `busy` answer carries, ms. */
export const BUSY_RETRY_MS = 1000;

export interface PasswordVerifierDeps {
  backend: Argon2Backend;
  now: () => number;
  random: (n: number) => Uint8Array;
}

export class PasswordVerifier {
  readonly gate: VerificationGate;
  readonly byAddress: FailureTable;
  readonly byUser: FailureTable;
  readonly #dummy: PhcHash;

  constructor(
    readonly users: UsersTable,
    readonly limits: Limits,
    readonly deps: PasswordVerifierDeps,
  ) {
    this.gate = new VerificationGate(limits.maxInFlight, limits.maxWaiting, limits.maxWaitMs);
    this.byAddress = new FailureTable(limits, deps.now);
    this.byUser = new FailureTable(limits, deps.now);
    this.#dummy = {
      params: { ...DEFAULT_ARGON2 },
      salt: deps.random(16),
      hash: deps.random(DEFAULT_ARGON2.hashLength),
    };
  }

  async verify(
    username: string,
    password: Uint8Array,
    clientAddress: string | null,
  ): Promise<AuthOutcome> {
    // Table keys are bounded too: a user name outside the charset cannot be a user (no per-user
    // entry), and an address is at most 64 characters (an IPv6 text form is at most 45).
    const validName = USER_NAME_RE.test(username);
    const address = clientAddress === null ? null : clientAddress.slice(0, 64);
    const wait = Math.max(
      address === null ? 0 : this.byAddress.retryAfter(address),
      validName ? this.byUser.retryAfter(username) : 0,
    );
    if (wait > 0) return { ok: false, reason: "rate_limited", retryAfterMs: wait };
    const fail = (): AuthOutcome => {
      if (address !== null) this.byAddress.fail(address);
      if (validName) this.byUser.fail(username);
      return { ok: false, reason: "bad_credentials" };
    };
    if (password.length < MIN_PASSWORD_BYTES || password.length > MAX_PASSWORD_BYTES) {
      return fail();
    }
    const known = validName ? this.users.get(username) : undefined;
    const target = known ?? this.#dummy;
    let tag: Uint8Array;
    try {
      const r = await this.gate.run(() =>
        this.deps.backend.hash(password, target.salt, target.params)
      );
      if (r.busy) return { ok: false, reason: "busy", retryAfterMs: BUSY_RETRY_MS };
      tag = r.value;
    } catch {
      // The backend failed (a worker died): say busy, count nothing against the client.
      return { ok: false, reason: "busy", retryAfterMs: BUSY_RETRY_MS };
    }
    const match = equalBytes(tag, target.hash);
    if (!known || !match) return fail();
    this.byUser.reset(username);
    return { ok: true, identity: { method: "password", subject: username } };
  }
}
