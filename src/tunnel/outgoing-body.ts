/**
 * The sending half of one stream direction (PROTOCOL.md §6.2): reads a body `ReadableStream`
 * piece by piece and turns it into DATA frames that respect the stream's send window (granted
 * by the peer's WINDOW_UPDATE) and the socket's backpressure. A source chunk is never copied
 * or buffered beyond what one frame needs; the next chunk is read only when the previous one
 * has been sent.
 */
import { INITIAL_STREAM_WINDOW, MAX_WINDOW } from "../protocol/constants.ts";
import { PqgateError } from "../protocol/errors.ts";
import { MAX_FRAME_PAYLOAD } from "../protocol/frames.ts";
import type { Bytes } from "../protocol/bytes.ts";

export interface OutgoingBodyOptions {
  /** Sends one DATA frame (the payload may alias the source chunk until it is sealed). */
  sendData: (payload: Uint8Array, endStream: boolean) => void;
  /** Resolves when the socket can take more (backpressure); null when it can right now. */
  drain: () => Promise<void> | null;
  /** Initial send window (default 65,536). */
  window?: number;
  /** Largest DATA payload (default MAX_PLAINTEXT - FRAME_HEADER_LEN = 16,376). */
  maxPayload?: number;
  /** Largest window the peer may grant (SESSION_INFO `max_window`, §6.2); default 2^31-1. */
  maxWindow?: number;
}

/** Thrown out of `pump` when the body was aborted (peer reset, channel closed). */
export class BodyAborted extends Error {
  constructor(readonly reason: unknown) {
    super("body aborted");
    this.name = "BodyAborted";
  }
}

export class OutgoingBody {
  private window: number;
  private readonly maxPayload: number;
  private wake: (() => void) | null = null;
  private reader: ReadableStreamDefaultReader<Uint8Array> | null = null;
  private aborted: { reason: unknown } | null = null;
  /** Bytes taken from the source but not yet handed out as DATA frames. */
  private held = 0;
  /** Total body bytes sent. */
  sent = 0;
  /** True once END_STREAM went out. */
  finished = false;

  constructor(private readonly opts: OutgoingBodyOptions) {
    this.window = opts.window ?? INITIAL_STREAM_WINDOW;
    this.maxPayload = opts.maxPayload ?? MAX_FRAME_PAYLOAD;
  }

  /** Current send window. */
  get available(): number {
    return this.window;
  }

  /** Bytes read from the source and waiting for window (at most one source chunk). */
  get buffered(): number {
    return this.held;
  }

  /** WINDOW_UPDATE from the peer. Past `maxWindow` (2^31-1) → PqgateError("limit_exceeded"). */
  addWindow(increment: number): void {
    if (this.window + increment > (this.opts.maxWindow ?? MAX_WINDOW)) {
      throw new PqgateError("limit_exceeded", "stream window over max_window");
    }
    this.window += increment;
    this.kick();
  }

  /** Stops the pump: cancels the source and makes `pump` reject with BodyAborted. */
  abort(reason: unknown): void {
    if (this.aborted || this.finished) return;
    this.aborted = { reason };
    this.held = 0;
    this.reader?.cancel(reason).catch(() => {});
    this.kick();
  }

  /**
   * Sends `source` (null = empty body: just END_STREAM) as DATA frames. Resolves after the
   * END_STREAM frame was handed to `sendData`; rejects with BodyAborted after `abort`, or with
   * the source's error (the caller resets the stream).
   */
  async pump(source: ReadableStream<Uint8Array> | null): Promise<void> {
    if (source === null) {
      this.check();
      this.finish();
      return;
    }
    const reader = source.getReader();
    this.reader = reader;
    if (this.aborted) reader.cancel(this.aborted.reason).catch(() => {});
    try {
      for (;;) {
        this.check();
        const r = await reader.read();
        this.check();
        if (r.done) break;
        const chunk = toBytes(r.value);
        let off = 0;
        this.held = chunk.length;
        while (off < chunk.length) {
          await this.ready();
          const n = Math.min(chunk.length - off, this.window, this.maxPayload);
          this.window -= n;
          this.sent += n;
          this.held -= n;
          this.opts.sendData(chunk.subarray(off, off + n), false);
          off += n;
        }
      }
      this.finish();
    } catch (e) {
      if (!this.aborted) reader.cancel(e).catch(() => {});
      throw this.aborted ? new BodyAborted(this.aborted.reason) : e;
    } finally {
      this.held = 0;
      try {
        reader.releaseLock();
      } catch { /* a pending read may still hold it */ }
    }
  }

  private finish(): void {
    this.finished = true;
    this.opts.sendData(new Uint8Array(0), true);
  }

  private check(): void {
    if (this.aborted) throw new BodyAborted(this.aborted.reason);
  }

  /** Waits until the window is open and the socket drained (or the body aborted). */
  private async ready(): Promise<void> {
    for (;;) {
      this.check();
      if (this.window <= 0) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        continue;
      }
      const d = this.opts.drain();
      if (d === null) return;
      await Promise.race([d, new Promise<void>((resolve) => (this.wake = resolve))]);
    }
  }

  private kick(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }
}

function toBytes(v: unknown): Bytes {
  if (v instanceof Uint8Array) return v as Bytes;
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength) as Bytes;
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  throw new TypeError("body chunks must be Uint8Array");
}
