/**
 * Bounds on password verification (docs/client-auth.md, abuse resistance):
 *
 * - `VerificationGate`: at most `maxInFlight` verifications run at once, at most `maxWaiting`
 *   wait for a slot, each at most `maxWaitMs`; past either bound the answer is `busy` with a
 *   retry-after. No other queue exists.
 * - `FailureTable`: failed attempts per key (a client address, a user name) with exponential
 *   backoff after `freeFailures`. At most `maxKeys` entries (a Map in least-recently-failed
 *   order: the oldest entry is dropped to make room), each forgotten `ttlMs` after its last
 *   failure.
 */
import { AuthConfigError, type LimitOptions } from "./options.ts";

export interface Limits {
  maxInFlight: number;
  maxWaiting: number;
  maxWaitMs: number;
  freeFailures: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  failureTtlMs: number;
  maxTrackedKeys: number;
}

function bounded(name: string, v: number | undefined, def: number, min: number, max: number) {
  const x = v ?? def;
  if (!Number.isInteger(x) || x < min || x > max) {
    throw new AuthConfigError(`auth limits: ${name} must be an integer in ${min}..${max}`);
  }
  return x;
}

/** LimitOptions with defaults applied and bounds checked (throws AuthConfigError). */
export function resolveLimits(o: LimitOptions = {}): Limits {
  const backoffBaseMs = bounded("backoffBaseMs", o.backoffBaseMs, 1000, 1, 60_000);
  return {
    maxInFlight: bounded("maxInFlight", o.maxInFlight, 2, 1, 64),
    maxWaiting: bounded("maxWaiting", o.maxWaiting, 8, 0, 1024),
    maxWaitMs: bounded("maxWaitMs", o.maxWaitMs, 2000, 10, 60_000),
    freeFailures: bounded("freeFailures", o.freeFailures, 5, 1, 100),
    backoffBaseMs,
    backoffMaxMs: bounded("backoffMaxMs", o.backoffMaxMs, 300_000, backoffBaseMs, 86_400_000),
    failureTtlMs: bounded("failureTtlMs", o.failureTtlMs, 900_000, 1000, 86_400_000),
    maxTrackedKeys: bounded("maxTrackedKeys", o.maxTrackedKeys, 10_000, 16, 1_000_000),
  };
}

/** Admits at most `maxInFlight` at once with a bounded, time-limited wait. */
export class VerificationGate {
  #running = 0;
  readonly #waiting: { admit: () => void; timer: ReturnType<typeof setTimeout> }[] = [];

  constructor(
    readonly maxInFlight: number,
    readonly maxWaiting: number,
    readonly maxWaitMs: number,
  ) {}

  get inFlight(): number {
    return this.#running;
  }
  get waiting(): number {
    return this.#waiting.length;
  }

  /**
   * Runs `job` when a slot is free. Resolves `{ busy: true }` at once when the wait list is full,
   * or after `maxWaitMs` without a slot.
   */
  async run<T>(job: () => Promise<T>): Promise<{ busy: false; value: T } | { busy: true }> {
    if (this.#running >= this.maxInFlight) {
      if (this.#waiting.length >= this.maxWaiting) return { busy: true };
      const admitted = await new Promise<boolean>((resolve) => {
        const entry = {
          admit: () => {
            clearTimeout(entry.timer);
            resolve(true);
          },
          timer: setTimeout(() => {
            const i = this.#waiting.indexOf(entry);
            if (i >= 0) this.#waiting.splice(i, 1);
            resolve(false);
          }, this.maxWaitMs),
        };
        this.#waiting.push(entry);
      });
      if (!admitted) return { busy: true };
      // The releasing job handed its slot over: #running already counts this one.
    } else {
      this.#running++;
    }
    try {
      return { busy: false, value: await job() };
    } finally {
      const next = this.#waiting.shift();
      if (next) next.admit();
      else this.#running--;
    }
  }
}

interface FailureEntry {
  failures: number;
  last: number;
}

/** Failed attempts per key with exponential backoff; bounded (see the file comment). */
export class FailureTable {
  readonly #entries = new Map<string, FailureEntry>();

  constructor(readonly limits: Limits, readonly now: () => number) {}

  get size(): number {
    return this.#entries.size;
  }

  /** ms until `key` may try again, 0 when it may now. */
  retryAfter(key: string): number {
    const e = this.#entries.get(key);
    if (!e) return 0;
    const t = this.now();
    if (t - e.last >= this.limits.failureTtlMs) {
      this.#entries.delete(key);
      return 0;
    }
    const over = e.failures - this.limits.freeFailures;
    if (over < 0) return 0;
    const wait = Math.min(
      this.limits.backoffMaxMs,
      this.limits.backoffBaseMs * 2 ** Math.min(over, 40),
    );
    return Math.max(0, e.last + wait - t);
  }

  fail(key: string): void {
    const t = this.now();
    const e = this.#entries.get(key);
    const failures = e && t - e.last < this.limits.failureTtlMs ? e.failures + 1 : 1;
    this.#entries.delete(key); // re-insert: Map order is least recently failed first
    this.#entries.set(key, { failures, last: t });
    while (this.#entries.size > this.limits.maxTrackedKeys) {
      this.#entries.delete(this.#entries.keys().next().value as string);
    }
  }

  reset(key: string): void {
    this.#entries.delete(key);
  }
}
