/**
 * Drives a session's deadlines with an ordinary timer (setTimeout), for transports that have
 * no alarms: the client library, Node and Deno servers. A Durable Object uses its alarm
 * instead and never needs this.
 *
 * Call `arm()` after creating the session and after every event handed to it; it keeps one
 * timer due no later than `nextDeadline()`, runs `onTimer(now)` once that deadline is reached
 * (never before it) and re-arms.
 */
export interface Deadlines {
  nextDeadline(): number | null;
  onTimer(now: number): void;
}

export interface TimerDriverOptions {
  now?: () => number;
  /** Do not keep the process alive for this timer (Node/Deno `unref`). Default true. */
  unref?: boolean;
}

export class TimerDriver {
  private timer: ReturnType<typeof setTimeout> | null = null;
  private armedFor: number | null = null;
  private stopped = false;
  private readonly now: () => number;
  private readonly unref: boolean;

  constructor(private readonly target: Deadlines, opts: TimerDriverOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.unref = opts.unref ?? true;
  }

  /**
   * (Re)schedules the timer for the target's next deadline. A timer already due no later than
   * that deadline stays (it checks the deadline again when it fires): a deadline that moves
   * later on every message, such as the idle PING's, costs no clearTimeout + setTimeout per
   * message.
   */
  arm(): void {
    if (this.stopped) return;
    const d = this.target.nextDeadline();
    if (d === null) {
      this.clear();
      return;
    }
    if (this.timer !== null && this.armedFor !== null && this.armedFor <= d) return;
    this.clear();
    this.armedFor = d;
    const delay = Math.max(0, Math.min(d - this.now(), 2 ** 31 - 1));
    const t = setTimeout(() => {
      this.timer = null;
      this.armedFor = null;
      if (this.stopped) return;
      const now = this.now();
      // Fired for an earlier deadline that has since moved: only re-arm.
      const due = this.target.nextDeadline();
      if (due !== null && now < due) {
        this.arm();
        return;
      }
      this.target.onTimer(now);
      this.arm();
    }, delay);
    this.timer = t;
    if (this.unref) unrefTimer(t);
  }

  /** Cancels the timer for good. */
  stop(): void {
    this.stopped = true;
    this.clear();
  }

  private clear(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.armedFor = null;
  }
}

function unrefTimer(t: ReturnType<typeof setTimeout>): void {
  const deno = (globalThis as { Deno?: { unrefTimer?: (id: number) => void } }).Deno;
  if (typeof t === "number") {
    deno?.unrefTimer?.(t);
    return;
  }
  (t as { unref?: () => void }).unref?.();
}
