/**
 * Drives a session's deadlines with an ordinary timer (setTimeout), for transports that have
 * no alarms: the client library, Node and Deno servers. A Durable Object uses its alarm
 * instead and never needs this.
 *
 * Call `arm()` after creating the session and after every event handed to it; it keeps one
 * timer at `nextDeadline()`, runs `onTimer(now)` when due and re-arms.
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

  /** (Re)schedules the timer for the target's next deadline. */
  arm(): void {
    if (this.stopped) return;
    const d = this.target.nextDeadline();
    if (d === this.armedFor && (d === null || this.timer !== null)) return;
    this.clear();
    if (d === null) return;
    this.armedFor = d;
    const delay = Math.max(0, Math.min(d - this.now(), 2 ** 31 - 1));
    const t = setTimeout(() => {
      this.timer = null;
      this.armedFor = null;
      if (this.stopped) return;
      this.target.onTimer(this.now());
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
