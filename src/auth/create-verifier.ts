/**
 * `createAuthVerifier`: the `AuthVerifier` (src/tunnel/types.ts) the gateway builds from its
 * configuration (options.ts). Synchronous, like createGateway: configuration errors that need no
 * I/O throw AuthConfigError here; key imports finish in the background (`ready()` surfaces
 * their failure, and a token checked before then waits for them).
 */
import type { AuthMethod, AuthOutcome, AuthVerifier } from "../tunnel/types.ts";
import { loadArgon2Module, wasmArgon2 } from "./argon2.ts";
import { createArgon2WorkerPool } from "./argon2-pool.ts";
import { resolveLimits } from "./limits.ts";
import { type Argon2Backend, AuthConfigError, type AuthDeps, type AuthOptions } from "./options.ts";
import { PasswordVerifier } from "./password.ts";
import { PSK_BYTES, PSK_IDENTITY_RE } from "./psk-file.ts";
import { TokenVerifier } from "./token.ts";

/** The verifier plus what its owner needs: readiness, shutdown, and gauges for metrics. */
export interface AuthVerifierHandle extends AuthVerifier {
  /** Resolves when configured token keys are imported; rejects with AuthConfigError otherwise. */
  ready(): Promise<void>;
  /** Stops the Argon2id worker threads, if any were started. Idempotent. */
  close(): void;
  /** Current bounds usage (no credential, no user name). */
  stats(): {
    inFlight: number;
    waiting: number;
    trackedAddresses: number;
    trackedUsers: number;
  };
}

/**
 * Builds the verifier. `deps.argon2` chooses the Argon2id backend; without it the first password
 * verification starts one: on Deno a worker pool of `limits.maxInFlight` threads (argon2-pool.ts),
 * elsewhere the WebAssembly build on the calling thread (argon2.ts). A Worker passes its own
 * (`wasmArgon2` of the bundled module).
 */
export function createAuthVerifier(options: AuthOptions, deps: AuthDeps = {}): AuthVerifierHandle {
  const now = deps.now ?? Date.now;
  const random = deps.random ?? ((n: number) => crypto.getRandomValues(new Uint8Array(n)));
  const limits = resolveLimits(options.limits);
  const methods = new Set<AuthMethod>();

  let backend: Promise<Argon2Backend> | null = deps.argon2 ? Promise.resolve(deps.argon2) : null;
  let started: Argon2Backend | null = deps.argon2 ?? null;
  let closed = false;
  const lazyBackend: Argon2Backend = {
    async hash(password, salt, params) {
      if (closed) throw new Error("auth verifier closed");
      backend ??= (async () => {
        const b = "Deno" in globalThis && typeof Worker === "function"
          ? createArgon2WorkerPool(limits.maxInFlight)
          : await wasmArgon2(await loadArgon2Module());
        started = b;
        return b;
      })();
      return await (await backend).hash(password, salt, params);
    },
  };

  let password: PasswordVerifier | null = null;
  if (options.password) {
    if (!(options.password.users instanceof Map)) {
      throw new AuthConfigError("password: users must come from parseUsersFile");
    }
    password = new PasswordVerifier(options.password.users, limits, {
      backend: lazyBackend,
      now,
      random,
    });
    methods.add("password");
  }
  const token = options.token ? new TokenVerifier(options.token, { ...deps, now }) : null;
  if (token) methods.add("token");
  let pskKeys: ReadonlyMap<string, Uint8Array> | null = null;
  if (options.psk) {
    for (const [id, key] of options.psk.keys) {
      if (!PSK_IDENTITY_RE.test(id) || !(key instanceof Uint8Array) || key.length !== PSK_BYTES) {
        throw new AuthConfigError("psk: every entry must be a valid identity and a 32-byte key");
      }
    }
    pskKeys = new Map(options.psk.keys);
    methods.add("psk");
  }

  const handle: AuthVerifierHandle = {
    methods,
    ready: async () => {
      await token?.ready();
    },
    close() {
      if (closed) return;
      closed = true;
      started?.close?.();
    },
    stats: () => ({
      inFlight: password?.gate.inFlight ?? 0,
      waiting: password?.gate.waiting ?? 0,
      trackedAddresses: password?.byAddress.size ?? 0,
      trackedUsers: password?.byUser.size ?? 0,
    }),
  };
  if (password) {
    const p = password;
    handle.password = (username, pw, addr): Promise<AuthOutcome> => p.verify(username, pw, addr);
  }
  if (token) {
    const t = token;
    handle.token = (tok, addr): Promise<AuthOutcome> => t.verify(tok, addr);
  }
  if (pskKeys) {
    const keys = pskKeys;
    handle.psk = (identity: string): Uint8Array | null => {
      const k = PSK_IDENTITY_RE.test(identity) ? keys.get(identity) : undefined;
      return k ? k.slice() : null;
    };
  }
  return handle;
}
