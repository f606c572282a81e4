/**
 * Backpressure toward the WebSocket: body pumps ask `wait()` before each DATA frame. While the
 * socket's `bufferedAmount` is above `highWater` they pause (reading no more from their
 * source) until it falls to `lowWater`, checked on a short poll timer shared by all streams of
 * the session. Sockets that do not report `bufferedAmount` never pause (the per-stream windows
 * still bound memory).
 */
import type { Socket } from "./types.ts";

export const DEFAULT_HIGH_WATER = 1024 * 1024;
export const DEFAULT_POLL_MS = 5;

export interface SocketDrainOptions {
  highWater?: number;
  lowWater?: number;
  pollMs?: number;
}

export class SocketDrain {
  private readonly high: number;
  private readonly low: number;
  private readonly pollMs: number;
  private waiting: Promise<void> | null = null;
  private release: (() => void) | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;

  constructor(private readonly socket: Socket, opts: SocketDrainOptions = {}) {
    this.high = opts.highWater ?? DEFAULT_HIGH_WATER;
    this.low = opts.lowWater ?? Math.floor(this.high / 2);
    this.pollMs = opts.pollMs ?? DEFAULT_POLL_MS;
  }

  private buffered(): number {
    const b = this.socket.bufferedAmount;
    return typeof b === "number" && Number.isFinite(b) ? b : 0;
  }

  /** True while the socket holds more than `highWater` bytes not yet sent. */
  congested(): boolean {
    return !this.stopped && this.buffered() > this.high;
  }

  /** null when the socket can take more now; otherwise a promise that resolves when it can. */
  wait = (): Promise<void> | null => {
    if (this.stopped) return null;
    if (this.waiting) return this.waiting;
    if (this.buffered() <= this.high) return null;
    this.waiting = new Promise<void>((resolve) => (this.release = resolve));
    this.poll();
    return this.waiting;
  };

  /** Wakes every waiter and stops polling (the session closed). */
  stop(): void {
    this.stopped = true;
    this.done();
  }

  private poll(): void {
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.stopped || this.buffered() <= this.low) this.done();
      else this.poll();
    }, this.pollMs);
  }

  private done(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const r = this.release;
    this.release = null;
    this.waiting = null;
    r?.();
  }
}
