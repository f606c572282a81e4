/**
 * What the gateway has produced for one channel and the client has not yet taken: the bound
 * behind every byte the gateway queues toward a socket (SECURITY.md, "Resource accounting").
 *
 * Two measures, both per channel:
 * - **local**: frames queued in the record channel and not yet sealed, plus what the socket
 *   reports it has not written (`bufferedAmount`; 0 where the platform does not report it, as
 *   on workerd). This is the gateway's own memory.
 * - **unacknowledged**: bytes of records handed to the socket that the client has not confirmed.
 *   Confirmation is by protocol means, so it works where the socket reports nothing: every
 *   `probeInterval` bytes the gateway sends a PING with fresh random data; a client answers PINGs
 *   in order (PROTOCOL.md §6.1), so the PONG proves it processed every record before that PING.
 *   A PONG that matches no outstanding probe acknowledges nothing.
 *
 * Above `highWater` local bytes or `maxUnacked` outstanding bytes the output gate is closed:
 * body pumps and response HEADERS wait (`wait()`), and the transport is asked to stop reading
 * (`pauseReading`, local bytes only: unacknowledged bytes drain only by reading the client's
 * PONGs). Past `hardLimit` outstanding bytes the session closes the channel (4013): only frames
 * that never wait (RESET_STREAM, WINDOW_UPDATE, PONG) can get there, from a client that keeps
 * sending while it reads nothing.
 */
import { PING_LEN } from "../protocol/constants.ts";
import type { Socket } from "./types.ts";

/** Default `SessionLimits.maxBufferedBytes`: the gateway's own queue per channel. */
export const DEFAULT_MAX_BUFFERED_BYTES = 256 * 1024;
/** Default `SessionLimits.maxUnackedBytes`: sent but not acknowledged, per channel. */
export const DEFAULT_MAX_UNACKED_BYTES = 4 * 1024 * 1024;
/** Default `SessionLimits.maxWindowBytes`: largest stream window a client may grant, 16 MiB. */
export const DEFAULT_MAX_WINDOW_BYTES = 16 * 1024 * 1024;
/** Outstanding probes at most; past it no new probe is sent (the gate closes first). */
export const MAX_PROBES = 8;
export const DEFAULT_POLL_MS = 5;
const MAX_POLL_MS = 250;

export interface OutputBudgetOptions {
  socket: Socket;
  /** Encoded bytes queued in the record channel, not yet sealed. */
  queued: () => number;
  /** Total bytes of records handed to the socket. */
  sent: () => number;
  /** 8 random bytes for a probe PING. */
  random: (n: number) => Uint8Array;
  /** Queues a PING frame with `data` (a probe). */
  sendPing: (data: Uint8Array) => void;
  highWater?: number;
  lowWater?: number;
  maxUnacked?: number;
  pollMs?: number;
}

interface Probe {
  data: Uint8Array;
  /** `sent()` when the probe was queued: a PONG acknowledges at least this much. */
  at: number;
}

export class OutputBudget {
  readonly highWater: number;
  readonly lowWater: number;
  readonly maxUnacked: number;
  /** Outstanding bytes past which the channel is closed (twice `maxUnacked`). */
  readonly hardLimit: number;
  readonly probeInterval: number;
  readonly #o: OutputBudgetOptions;
  readonly #pollMs: number;
  readonly #probes: Probe[] = [];
  #acked = 0;
  #lastProbeAt = 0;
  #paused = false;
  #waiting: Promise<void> | null = null;
  #release: (() => void) | null = null;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #stopped = false;
  #delay: number;

  constructor(o: OutputBudgetOptions) {
    this.#o = o;
    this.highWater = o.highWater ?? DEFAULT_MAX_BUFFERED_BYTES;
    this.lowWater = o.lowWater ?? Math.floor(this.highWater / 2);
    this.maxUnacked = o.maxUnacked ?? DEFAULT_MAX_UNACKED_BYTES;
    this.hardLimit = 2 * this.maxUnacked;
    this.probeInterval = Math.max(1, Math.floor(this.maxUnacked / 4));
    this.#pollMs = o.pollMs ?? DEFAULT_POLL_MS;
    this.#delay = this.#pollMs;
  }

  /** The gateway's own bytes for this channel: unsealed frames + the socket's unsent bytes. */
  get local(): number {
    const b = this.#o.socket.bufferedAmount;
    return this.#o.queued() + (typeof b === "number" && Number.isFinite(b) && b > 0 ? b : 0);
  }

  /** Bytes produced that the client has not confirmed: unsealed frames + unacknowledged records. */
  get outstanding(): number {
    return this.#o.queued() + Math.max(0, this.#o.sent() - this.#acked);
  }

  /** Probes sent and not yet answered. */
  get probes(): number {
    return this.#probes.length;
  }

  /** True while output must wait (either measure above its mark). */
  congested(): boolean {
    return !this.#stopped && (this.local > this.highWater || this.outstanding > this.maxUnacked);
  }

  /** True when the client made the gateway hold more than `hardLimit` bytes: close (4013). */
  overHardLimit(): boolean {
    return !this.#stopped && this.outstanding > this.hardLimit;
  }

  /** null when output may go now; otherwise resolves when it may (or the budget stopped). */
  wait = (): Promise<void> | null => {
    if (this.#stopped) return null;
    if (this.#waiting) return this.#waiting;
    if (!this.congested()) return null;
    this.#waiting = new Promise<void>((resolve) => (this.#release = resolve));
    this.#schedulePoll();
    return this.#waiting;
  };

  /**
   * After records were handed to the socket: sends a probe every `probeInterval` bytes and
   * pauses reading while local bytes are above the high-water mark.
   */
  afterSend(): void {
    if (this.#stopped) return;
    const sent = this.#o.sent();
    if (sent - this.#lastProbeAt >= this.probeInterval && this.#probes.length < MAX_PROBES) {
      this.#lastProbeAt = sent;
      const data = this.#o.random(PING_LEN).slice(0, PING_LEN);
      this.#probes.push({ data, at: sent });
      this.#o.sendPing(data);
    }
    this.#updateReading();
  }

  /**
   * A PONG from the client. True when it answered an outstanding probe (everything sent before
   * it is acknowledged, and earlier probes with it); false otherwise (charged by the caller).
   */
  onPong(data: Uint8Array): boolean {
    const i = this.#probes.findIndex((p) => sameBytes(p.data, data));
    if (i < 0) return false;
    this.#acked = Math.max(this.#acked, this.#probes[i].at);
    this.#probes.splice(0, i + 1);
    this.#recheck();
    return true;
  }

  /** Wakes every waiter and stops polling (the session closed). */
  stop(): void {
    this.#stopped = true;
    this.#done();
    if (this.#paused) {
      this.#paused = false;
      try {
        this.#o.socket.resumeReading?.();
      } catch { /* socket gone */ }
    }
  }

  #updateReading(): void {
    const s = this.#o.socket;
    if (!s.pauseReading) return;
    const local = this.local;
    if (!this.#paused && local > this.highWater) {
      this.#paused = true;
      s.pauseReading();
      this.#schedulePoll();
    } else if (this.#paused && local <= this.lowWater) {
      this.#paused = false;
      s.resumeReading?.();
    }
  }

  #recheck(): void {
    this.#updateReading();
    if (this.#waiting && !this.congested()) this.#done();
  }

  /**
   * Local bytes drain without an event we see: poll while waiting on them or paused, every
   * `pollMs`, backing off to 250 ms while nothing drains (a stalled peer costs ~4 wake-ups a
   * second, not 200). Unacknowledged bytes need no poll: a PONG rechecks.
   */
  #schedulePoll(): void {
    if (this.#timer !== null || this.#stopped) return;
    if (!this.#paused && this.local <= this.highWater) return;
    const before = this.local;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      if (this.#stopped) return;
      const now = this.local;
      this.#delay = now < before ? this.#pollMs : Math.min(MAX_POLL_MS, this.#delay * 2);
      this.#recheck();
      if (this.#waiting || this.#paused) this.#schedulePoll();
    }, this.#delay);
  }

  #done(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    const r = this.#release;
    this.#release = null;
    this.#waiting = null;
    r?.();
    if (this.#paused && !this.#stopped) this.#schedulePoll();
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
