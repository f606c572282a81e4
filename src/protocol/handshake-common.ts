/** Helpers shared by the client and gateway handshake state machines (§7). */
import type { Bytes } from "./bytes.ts";
import { type SuiteId, SUITES } from "./constants.ts";
import { PqgateError } from "./errors.ts";
import type { RandomSource } from "./types.ts";

/** `n` bytes from the caller's RandomSource, copied; a faulty source is an `internal_error`. */
export function randomBytes(random: RandomSource, n: number): Bytes {
  let r: Uint8Array;
  try {
    r = random(n);
  } catch {
    throw new PqgateError("internal_error", "random source failed");
  }
  if (!(r instanceof Uint8Array) || r.length !== n) {
    throw new PqgateError("internal_error", "random source returned the wrong length");
  }
  return new Uint8Array(r);
}

/** Any non-PqgateError becomes `code`; a PqgateError passes through unchanged. */
export function asPqgateError(
  e: unknown,
  code: "internal_error" | "handshake_failed" = "internal_error",
): PqgateError {
  return e instanceof PqgateError ? e : new PqgateError(code);
}

/** Validates a configured suite list (non-empty, known, no duplicates, ≤ 8). */
export function checkSuites(suites: readonly number[], who: string): SuiteId[] {
  if (!Array.isArray(suites) || suites.length < 1 || suites.length > 8) {
    throw new PqgateError("internal_error", `${who}: 1..8 suites required`);
  }
  const out: SuiteId[] = [];
  for (const s of suites) {
    if (!(SUITES as readonly number[]).includes(s)) {
      throw new PqgateError("internal_error", `${who}: unknown suite`);
    }
    if (out.includes(s as SuiteId)) {
      throw new PqgateError("internal_error", `${who}: duplicate suite`);
    }
    out.push(s as SuiteId);
  }
  return out;
}

/** Zeroes every given buffer (ephemeral secrets after use). */
export function wipe(...bufs: (Uint8Array | null | undefined)[]): void {
  for (const b of bufs) b?.fill(0);
}
