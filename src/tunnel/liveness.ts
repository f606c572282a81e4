/**
 * Liveness: the deadlines that keep a silent peer from holding a channel open (SESSION_INFO
 * `idle_timeout_ms`, PROTOCOL.md §6.3; PING/PONG, §6.1; close codes 4007/4008, §9).
 *
 * - The handshake must complete within the handshake timeout of the side's start (§7).
 * - The gateway sends a PING after half its idle timeout without a message and closes with
 *   `idle_timeout` when the whole timeout passed without one (`IdleClock`, persisted in the
 *   session snapshot so a wake keeps the deadline it had).
 * - The client, which the gateway PINGs, gives up when it heard nothing for well past the
 *   announced idle timeout (`silenceDeadline`).
 */
import type { IdleClock } from "./session-snapshot.ts";

/** The handshake's deadline: `startedAt` + the timeout. */
export function handshakeDeadline(startedAt: number, timeoutMs: number): number {
  return startedAt + timeoutMs;
}

/**
 * The client's deadline for a silent gateway: it PINGs at half its idle timeout, so silence
 * well past the timeout means it is gone. null when no idle timeout was announced.
 */
export function silenceDeadline(lastRx: number, idleTimeoutMs: number | undefined): number | null {
  return idleTimeoutMs
    ? lastRx + idleTimeoutMs + Math.max(5_000, Math.floor(idleTimeoutMs / 2))
    : null;
}

/** The gateway's idle clock: last receive, and the idle PING once it went out. */
export class IdlePing {
  /** When the last message was received (ms, the session's clock). */
  lastRx: number;
  #pingOutstanding = false;
  /** When the idle PING went out (meaningful while one is outstanding). */
  #pingSentAt = 0;
  readonly #limits: { readonly idleTimeoutMs: number };

  constructor(limits: { readonly idleTimeoutMs: number }, now: number) {
    this.#limits = limits;
    this.lastRx = now;
  }

  get pingOutstanding(): boolean {
    return this.#pingOutstanding;
  }

  /** A message arrived: the clock restarts and an outstanding PING is answered. */
  received(now: number): void {
    this.lastRx = now;
    this.#pingOutstanding = false;
  }

  /** The next idle deadline: the PING while none is outstanding, else the timeout. */
  deadline(): number {
    const idle = this.#limits.idleTimeoutMs;
    let d = this.lastRx + idle;
    if (!this.#pingOutstanding) d = Math.min(d, this.lastRx + Math.floor(idle / 2));
    return d;
  }

  /** True when the timeout passed at `now` (close with idle_timeout). */
  expired(now: number): boolean {
    return now >= this.lastRx + this.#limits.idleTimeoutMs;
  }

  /** True when the idle PING is due at `now`; it then counts as sent at `now`. */
  pingDue(now: number): boolean {
    if (this.#pingOutstanding || now < this.lastRx + Math.floor(this.#limits.idleTimeoutMs / 2)) {
      return false;
    }
    this.#pingOutstanding = true;
    this.#pingSentAt = now;
    return true;
  }

  /** The clock as persisted in a session snapshot. */
  snapshot(): IdleClock {
    return { lastRxAt: this.lastRx, pingSentAt: this.#pingOutstanding ? this.#pingSentAt : null };
  }

  /**
   * Continues a persisted clock (a wake never restarts it). A saved time ahead of `now` (another
   * machine) is clamped to `now`, so it can never extend the deadline.
   */
  restore(idle: IdleClock, now: number): void {
    this.lastRx = Math.min(idle.lastRxAt, now);
    this.#pingOutstanding = idle.pingSentAt !== null;
    this.#pingSentAt = Math.min(idle.pingSentAt ?? 0, now);
  }
}
