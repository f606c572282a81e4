/**
 * Test support for client authentication (docs/client-auth.md): a fake AuthVerifier with fixed
 * answers and a gate to hold verifications open, so session tests need no Argon2id or JWT.
 * Tests only.
 */
import type { AuthMethod, AuthOutcome, AuthVerifier } from "./types.ts";

/** A PSK the fake verifier knows for identity "dev-1". */
export const FAKE_PSK: Uint8Array = new Uint8Array(32).map((_, i) => i + 1);

export interface FakeVerifier extends AuthVerifier {
  /** Calls so far, by method (credentials are not kept). */
  calls: { password: number; token: number; psk: number };
  /** Verifications waiting at the gate (`gate: true`); `release()` lets them all answer. */
  waiting(): number;
  release(): void;
}

/**
 * Answers: password "ann" / "right" → ok; user "busy" → busy (2,000 ms); "limited" →
 * rate_limited (5,000 ms); anything else bad_credentials. Token "good" → ok (sub "svc", expires
 * at `now() + 60_000`), "stale" → ok with an `expiresAt` already past, "expired" →
 * token_expired, else token_invalid. PSK "dev-1" → FAKE_PSK. With `gate`, every password and
 * token answer waits for `release()`.
 */
export function fakeVerifier(
  o: { methods?: AuthMethod[]; gate?: boolean; now?: () => number } = {},
): FakeVerifier {
  const now = o.now ?? Date.now;
  const calls = { password: 0, token: 0, psk: 0 };
  let gate: (() => void)[] = [];
  const held = (answer: () => AuthOutcome): Promise<AuthOutcome> =>
    o.gate ? new Promise((res) => gate.push(() => res(answer()))) : Promise.resolve(answer());
  return {
    methods: new Set(o.methods ?? ["password", "token", "psk"]),
    calls,
    waiting: () => gate.length,
    release() {
      const g = gate;
      gate = [];
      for (const f of g) f();
    },
    password(username, password) {
      calls.password++;
      const pw = new TextDecoder().decode(password);
      return held(() => {
        if (username === "ann" && pw === "right") {
          return { ok: true, identity: { method: "password", subject: "ann" } };
        }
        if (username === "busy") return { ok: false, reason: "busy", retryAfterMs: 2000 };
        if (username === "limited") {
          return { ok: false, reason: "rate_limited", retryAfterMs: 5000 };
        }
        return { ok: false, reason: "bad_credentials" };
      });
    },
    token(token) {
      calls.token++;
      return held(() => {
        if (token === "good" || token === "good2") {
          return {
            ok: true,
            identity: { method: "token", subject: "svc", issuer: "iss", expiresAt: now() + 60_000 },
          };
        }
        if (token === "stale") {
          return { ok: true, identity: { method: "token", subject: "svc", expiresAt: now() - 1 } };
        }
        if (token === "expired") return { ok: false, reason: "token_expired" };
        return { ok: false, reason: "token_invalid" };
      });
    },
    psk(identity) {
      calls.psk++;
      return identity === "dev-1" ? FAKE_PSK : null;
    },
  };
}
