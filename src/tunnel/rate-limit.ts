/**
 * A token bucket on an injected clock (ms): `capacity` tokens at most, refilled continuously at
 * `ratePerSecond`. Deterministic under a fake clock; a clock that moves backwards refills
 * nothing (and does not drain the bucket either).
 *
 * Used by ServerSession for the control frames a peer can flood (PING, PADDING, ...; SECURITY.md
 * "Limits"), and by the Deno transport for handshakes per client address.
 */
import { PqgateError } from "../protocol/errors.ts";
import type { SessionLimits } from "./types.ts";

/** Default `SessionLimits.maxControlFramesPerSecond`: sustained control frames per channel. */
export const DEFAULT_CONTROL_FRAMES_PER_SECOND = 1_000;
/** Default `SessionLimits.controlFrameBurst`: control frames a channel may send at once. */
export const DEFAULT_CONTROL_FRAME_BURST = 2_000;

export class TokenBucket {
  #tokens: number;
  #last: number;
  readonly capacity: number;
  readonly ratePerSecond: number;

  /** Starts full at time `now`. */
  constructor(ratePerSecond: number, capacity: number, now: number) {
    if (!(ratePerSecond > 0) || !(capacity >= 1)) {
      throw new RangeError("TokenBucket: ratePerSecond must be > 0 and capacity >= 1");
    }
    this.ratePerSecond = ratePerSecond;
    this.capacity = capacity;
    this.#tokens = capacity;
    this.#last = now;
  }

  #refill(now: number): void {
    const elapsed = now - this.#last;
    if (elapsed > 0) {
      this.#tokens = Math.min(this.capacity, this.#tokens + (elapsed * this.ratePerSecond) / 1000);
    }
    // A clock that went backwards restarts the refill from `now` without adding tokens.
    if (elapsed !== 0) this.#last = now;
  }

  /** Takes `n` tokens if available (true), else takes none (false). */
  take(now: number, n = 1): boolean {
    this.#refill(now);
    if (this.#tokens < n) return false;
    this.#tokens -= n;
    return true;
  }

  /** Tokens available at `now` (fractional). */
  available(now: number): number {
    this.#refill(now);
    return this.#tokens;
  }

  /** True when the bucket is full at `now` (nothing to remember about this client). */
  full(now: number): boolean {
    return this.available(now) >= this.capacity;
  }
}

/**
 * A channel's flood control (PROTOCOL.md §6.1, §9 `rate_limited`): every frame that carries no
 * request data takes a token from a per-channel bucket (`limits.maxControlFramesPerSecond`,
 * `limits.controlFrameBurst`, clock = `env.now()`): PING, PONG (except answers to the gateway's
 * flow probes), PADDING, KEY_UPDATE asking for an update (one without costs an epoch, of which a
 * channel has 255), RESET_STREAM, WINDOW_UPDATE on stream 0 or a forgotten stream, a second
 * WINDOW_UPDATE for one stream in one record (the first is free), late frames on forgotten
 * streams, streams refused past max_streams. An empty bucket closes the channel with 4009
 * `rate_limited`.
 */
export class ControlFrameBudget {
  readonly #bucket: TokenBucket;

  /** Starts full at `now`. */
  constructor(limits: SessionLimits, now: number) {
    this.#bucket = new TokenBucket(
      limits.maxControlFramesPerSecond ?? DEFAULT_CONTROL_FRAMES_PER_SECOND,
      limits.controlFrameBurst ?? DEFAULT_CONTROL_FRAME_BURST,
      now,
    );
  }

  /** Takes one token for a floodable frame; an empty bucket → PqgateError("rate_limited"). */
  charge(what: string, now: number): void {
    if (this.#bucket.take(now)) return;
    throw new PqgateError("rate_limited", `too many control frames (${what})`);
  }
}
