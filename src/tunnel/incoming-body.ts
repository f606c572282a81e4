/**
 * The receiving half of one stream direction (PROTOCOL.md §6.2): DATA payloads from the peer
 * become a standard `ReadableStream`, and receive window is granted back (WINDOW_UPDATE) only
 * as the consumer actually reads. The queue is therefore bounded by the window: a peer that
 * sends more than it was granted is a `limit_exceeded` connection error.
 */
import { INITIAL_STREAM_WINDOW } from "../protocol/constants.ts";
import { PqgateError } from "../protocol/errors.ts";
import type { Bytes } from "../protocol/bytes.ts";

/** Grant window back once this many consumed bytes are not yet granted. */
export const GRANT_THRESHOLD = 16384;
/**
 * DATA payloads smaller than this are copied into a shared tail chunk instead of being queued
 * one by one, so the queue holds at most window / SMALL_CHUNK + 1 chunks whatever the peer's
 * frame sizes (1-byte DATA frames would otherwise cost an object each: SECURITY.md).
 */
export const SMALL_CHUNK = 1024;
const TAIL_SIZE = 16384;

export interface IncomingBodyOptions {
  /** Called with an increment to send as WINDOW_UPDATE on the stream. */
  grant: (increment: number) => void;
  /** The consumer cancelled the stream (it will not read any more). */
  onCancel?: (reason: unknown) => void;
  /** Initial receive window (default 65,536, §6.2). */
  window?: number;
}

export class IncomingBody {
  readonly stream: ReadableStream<Bytes>;
  private controller!: ReadableStreamDefaultController<Bytes>;
  private readonly queue: Bytes[] = [];
  private queued = 0;
  /** Bytes the peer may still send (its view of our window). */
  private available: number;
  private consumedUngranted = 0;
  private ended = false;
  private finished = false; // closed, errored or cancelled: no more grants
  private waitingPull = false;
  /** The last queued chunk when it collects small payloads (see SMALL_CHUNK). */
  private tail: { buf: Bytes; len: number; view: Bytes } | null = null;
  /** Total payload bytes received (for body-size limits). */
  received = 0;

  constructor(private readonly opts: IncomingBodyOptions) {
    this.available = opts.window ?? INITIAL_STREAM_WINDOW;
    this.stream = new ReadableStream<Bytes>(
      {
        start: (c) => {
          this.controller = c;
        },
        pull: () => {
          this.waitingPull = true;
          this.deliver();
        },
        cancel: (reason) => {
          this.finished = true;
          this.queue.length = 0;
          this.queued = 0;
          this.opts.onCancel?.(reason);
        },
      },
      // highWaterMark 0: a chunk leaves our queue only when a reader asks for it, so the
      // window is granted exactly as the consumer reads.
      { highWaterMark: 0 },
    );
  }

  /** Bytes waiting in this body's queue (bounded by the window). */
  get buffered(): number {
    return this.queued;
  }

  /** True once END_STREAM was seen or the body was closed/errored/cancelled. */
  get done(): boolean {
    return this.ended || this.finished;
  }

  /** True once END_STREAM was received. */
  get endReceived(): boolean {
    return this.ended;
  }

  /**
   * A DATA payload from the peer. More than the window allows → PqgateError("limit_exceeded").
   * Data after a cancel is counted against the window and dropped; no window is granted for
   * it (the session resets the stream, which stops the sender).
   */
  push(chunk: Uint8Array, endStream: boolean): void {
    if (this.ended) throw new PqgateError("protocol_error", "DATA after END_STREAM");
    if (chunk.length > this.available) {
      throw new PqgateError("limit_exceeded", "stream flow-control window exceeded");
    }
    this.available -= chunk.length;
    this.received += chunk.length;
    if (endStream) this.ended = true;
    if (this.finished) return;
    if (chunk.length > 0) {
      this.enqueue(chunk);
      this.queued += chunk.length;
    }
    this.deliver();
  }

  /**
   * Queues a chunk. While a backlog exists, small ones are copied into a tail chunk at the end
   * of the queue (one 16 KiB buffer for many small payloads).
   */
  private enqueue(chunk: Uint8Array): void {
    if (chunk.length >= SMALL_CHUNK || this.queue.length === 0) {
      this.tail = null;
      this.queue.push(chunk as Bytes);
      return;
    }
    const t = this.tail;
    if (t && t.len + chunk.length <= TAIL_SIZE && this.queue[this.queue.length - 1] === t.view) {
      t.buf.set(chunk, t.len);
      t.len += chunk.length;
      t.view = t.buf.subarray(0, t.len);
      this.queue[this.queue.length - 1] = t.view;
      return;
    }
    const buf = new Uint8Array(TAIL_SIZE);
    buf.set(chunk, 0);
    this.tail = { buf, len: chunk.length, view: buf.subarray(0, chunk.length) };
    this.queue.push(this.tail.view);
  }

  /** Fails the body for its reader (peer reset, channel closed, limit). */
  error(reason: unknown): void {
    if (this.finished) return;
    this.finished = true;
    this.queue.length = 0;
    this.queued = 0;
    try {
      this.controller.error(reason);
    } catch { /* already closed */ }
  }

  private deliver(): void {
    if (this.finished || !this.waitingPull) return;
    const chunk = this.queue.shift();
    if (chunk) {
      this.waitingPull = false;
      this.queued -= chunk.length;
      this.controller.enqueue(chunk);
      this.consumedUngranted += chunk.length;
      if (!this.ended && this.consumedUngranted >= GRANT_THRESHOLD) {
        const n = this.consumedUngranted;
        this.consumedUngranted = 0;
        this.available += n;
        this.opts.grant(n);
      }
    }
    if (this.ended && this.queue.length === 0) {
      this.finished = true;
      try {
        this.controller.close();
      } catch { /* already closed */ }
    }
  }
}
