/**
 * The sending half of one stream direction (PROTOCOL.md §6.2): reads a body `ReadableStream`
 * piece by piece and turns it into DATA frames that respect the stream's send window (granted
 * by the peer's WINDOW_UPDATE) and the socket's backpressure. A source chunk is never copied
 * or buffered beyond what one frame needs; the next chunk is read only when the previous one
 * has been sent.
 *
 * Fewer records for small responses (frames queued in one tick share a record,
 * src/tunnel/record-channel.ts): with a declared `length`, END_STREAM rides on the DATA frame
 * that completes it instead of an empty DATA frame after the source's end, and a `head` (the
 * HEADERS frame) for a body that fits one frame goes out with the first DATA frame. A 1 KiB
 * response is then one record instead of three.
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

/** What `pump` may know about the body besides its source. */
export interface PumpOptions {
  /**
   * The body's declared size (a response's content-length). After that many bytes the last
   * DATA frame carries END_STREAM and the source is cancelled (whatever it still holds is never
   * sent); one that ends early ends the stream with an empty END_STREAM as without `length`.
   */
  length?: number | null;
  /**
   * Sends the HEADERS frame. Called once, before any DATA frame: right away, or, when `length`
   * fits one DATA frame, just before that frame so both share a record (a body that is not
   * there yet delays its HEADERS by that wait only).
   */
  head?: () => void;
  /**
   * Fail as soon as the source errors, also while waiting for window or the drain (a stream
   * reader only notices at its next read): `pump` then rejects with the source's error. For a
   * source that errors on purpose to end the stream (a WebSocket relay, PROTOCOL.md §6.9).
   */
  watchSource?: boolean;
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
  private reader: BodyReader | null = null;
  private aborted: { reason: unknown } | null = null;
  /** The source errored while watched (PumpOptions.watchSource). */
  private sourceFailed: { error: unknown } | null = null;
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
   * Sends `source` (null = empty body: just END_STREAM; bytes = a body already whole, sent as
   * the one chunk of a stream would be, without making a stream) as DATA frames. Resolves after the
   * END_STREAM frame was handed to `sendData`; rejects with BodyAborted after `abort`, or with
   * the source's error (the caller resets the stream).
   */
  async pump(
    source: ReadableStream<Uint8Array> | Uint8Array | null,
    o: PumpOptions = {},
  ): Promise<void> {
    const length = o.length ?? null;
    let head = o.head ?? null;
    const sendHead = () => {
      const h = head;
      head = null;
      h?.();
    };
    if (source === null) {
      this.check();
      sendHead();
      this.finish();
      return;
    }
    if (length === null || length === 0 || length > this.maxPayload) sendHead();
    const reader = source instanceof Uint8Array ? bytesReader(source) : source.getReader();
    this.reader = reader;
    if (this.aborted) reader.cancel(this.aborted.reason).catch(() => {});
    if (o.watchSource && !(source instanceof Uint8Array)) {
      (reader as ReadableStreamDefaultReader<Uint8Array>).closed.then(() => {}, (error) => {
        if (this.aborted || this.finished) return;
        this.sourceFailed ??= { error };
        this.kick();
      });
    }
    let complete = length === 0;
    try {
      while (!complete) {
        this.check();
        const r = await reader.read();
        this.check();
        if (r.done) break;
        const chunk = toBytes(r.value);
        // Bytes past the declared length are never sent.
        const take = length === null ? chunk.length : Math.min(chunk.length, length - this.sent);
        let off = 0;
        this.held = take;
        while (off < take) {
          await this.ready();
          const n = Math.min(take - off, this.window, this.maxPayload);
          this.window -= n;
          this.sent += n;
          this.held -= n;
          off += n;
          complete = this.sent === length;
          sendHead();
          this.opts.sendData(chunk.subarray(off - n, off), complete);
        }
      }
      if (complete) {
        this.check();
        if (this.sent === 0) this.finish(); // declared empty
        this.finished = true;
        // Whatever the source still holds is past the declared length: cancel it (a fetch
        // body read to its content-length keeps its origin connection reusable).
        reader.cancel().catch(() => {});
        return;
      }
      sendHead();
      this.finish();
    } catch (e) {
      if (!this.aborted) reader.cancel(e).catch(() => {});
      throw this.aborted ? new BodyAborted(this.aborted.reason) : e;
    } finally {
      // The reader keeps its lock: nothing reads the body after the pump, and releasing it
      // costs a TypeError (stack trace included) per response.
      this.held = 0;
    }
  }

  private finish(): void {
    this.finished = true;
    this.opts.sendData(new Uint8Array(0), true);
  }

  private check(): void {
    if (this.aborted) throw new BodyAborted(this.aborted.reason);
    if (this.sourceFailed) throw this.sourceFailed.error;
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

/** What `pump` uses of a stream reader. */
type BodyReader = Pick<ReadableStreamDefaultReader<Uint8Array>, "read" | "cancel">;

/** A reader of one chunk, for a body that is already whole. */
function bytesReader(bytes: Uint8Array): BodyReader {
  let done = false;
  return {
    read() {
      if (done) return Promise.resolve({ done: true, value: undefined });
      done = true;
      return Promise.resolve({ done: false, value: bytes });
    },
    cancel() {
      done = true;
      return Promise.resolve();
    },
  };
}

function toBytes(v: unknown): Bytes {
  if (v instanceof Uint8Array) return v as Bytes;
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength) as Bytes;
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  throw new TypeError("body chunks must be Uint8Array");
}
