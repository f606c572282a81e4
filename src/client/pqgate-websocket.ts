/**
 * `PqgateWebSocket`: a WebSocket tunneled through the channel (PROTOCOL.md §6.9), with the
 * browser WebSocket's shape (readyState, binaryType, bufferedAmount, send, close, the on*
 * handlers and addEventListener), made by `channel.websocket(url, protocols)`. One stream of the
 * channel carries it; the gateway holds the WebSocket to the origin (docs/websockets.md).
 *
 * Life: CONNECTING until the gateway's 200 (the stream's CONNECT waits for the channel, which
 * reconnects as `channel.fetch` does, and for its SESSION_INFO: a channel whose max_ws_message
 * is 0 offers no WebSocket streams and fails the socket locally); OPEN while messages flow;
 * CLOSING after `close()` (our close message and END_STREAM went in the queue) until the
 * gateway's close message, or the close timeout (then RESET_STREAM CANCEL and 1006); CLOSED.
 * Any failure (a refusal, a reset, a malformed message stream, the channel closing) is an
 * `error` event and then a `close` with 1006, not clean.
 *
 * Bounds: the decoder holds at most one partial message (max_ws_message + 5 bytes, ws-messages.ts)
 * and window is granted as the message stream is read (incoming-body.ts), so what the gateway
 * can make us hold is that plus the stream window. What the application queues with `send` is
 * bounded by `maxBufferedAmount` (default the larger of 16 MiB and twice max_ws_message): past
 * it the socket fails, as a browser's does when its buffer is full.
 */
import { STREAM_CANCEL, STREAM_INTERNAL } from "../protocol/frames.ts";
import type { ClientSession, OpenedStream } from "../tunnel/client-session.ts";
import {
  encodeWsMessage,
  WS_KIND_BINARY,
  WS_KIND_TEXT,
  WS_MESSAGE_HEADER_LEN,
  type WsMessage,
  WsMessageDecoder,
  WsMessageError,
} from "../tunnel/ws-messages.ts";
import {
  closeEvent,
  messageEvent,
  type WebSocketCloseEvent,
  WebSocketErrorEvent,
} from "./websocket-events.ts";
import { type WebSocketTarget, webSocketTarget } from "./websocket-target.ts";

/** What a PqgateWebSocket needs from its channel. */
export interface WebSocketHost {
  /** A usable session: the current one, or a new channel (as `channel.fetch` gets one). */
  session(): Promise<ClientSession>;
  /** Relative URLs resolve against it (ConnectOptions.baseUrl). */
  baseUrl?: string;
  /** How long CLOSING waits for the gateway's close message (default 10,000 ms). */
  closeTimeoutMs?: number;
  /** Bound of `bufferedAmount` (default max(16 MiB, 2 × max_ws_message)). */
  maxBufferedAmount?: number;
}

/** The gateway refused the WebSocket: its HTTP status and `pqgate-error` token (null: none). */
export interface WebSocketGatewayError {
  status: number;
  error: string | null;
}

type Handler<E extends Event> = ((this: PqgateWebSocket, ev: E) => unknown) | null;

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;
const DEFAULT_CLOSE_TIMEOUT_MS = 10_000;
const MIN_SEND_BOUND = 16 * 1024 * 1024;
const MAX_CLOSE_REASON = 123;

/** A message waiting for the stream (a Blob's bytes arrive asynchronously, in order). */
interface Outgoing {
  /** Payload bytes, as counted in bufferedAmount. */
  size: number;
  bytes: Uint8Array | Promise<Uint8Array>;
}

const encoder = new TextEncoder();

export class PqgateWebSocket extends EventTarget {
  static readonly CONNECTING = CONNECTING;
  static readonly OPEN = OPEN;
  static readonly CLOSING = CLOSING;
  static readonly CLOSED = CLOSED;
  get CONNECTING(): 0 {
    return CONNECTING;
  }
  get OPEN(): 1 {
    return OPEN;
  }
  get CLOSING(): 2 {
    return CLOSING;
  }
  get CLOSED(): 3 {
    return CLOSED;
  }

  /** The target URL (ws: or wss:). */
  readonly url: string;
  /** No extension is negotiated through the tunnel (§6.9: the gateway offers none). */
  readonly extensions = "";
  readonly #target: WebSocketTarget;
  readonly #host: WebSocketHost;
  #state: 0 | 1 | 2 | 3 = CONNECTING;
  #protocol = "";
  #binaryType: "blob" | "arraybuffer" = "blob";
  #gatewayError: WebSocketGatewayError | null = null;
  /** max_ws_message of the channel (0 until known). */
  #max = 0;
  #stream: OpenedStream | null = null;
  readonly #abort = new AbortController();
  // Sending: messages wait here until the stream's body pump pulls them.
  readonly #queue: Outgoing[] = [];
  #queued = 0;
  /** Bytes "sent" after the close (counted, dropped: as browsers do). */
  #dropped = 0;
  /** Our close message is queued: the body ends after it. */
  #ending = false;
  #wake: (() => void) | null = null;
  readonly #body: ReadableStream<Uint8Array>;
  #timer: ReturnType<typeof setTimeout> | null = null;
  /** A failure while CLOSING (1009): the close event reports it instead of the gateway's code. */
  #failedWith: { code: number; reason: string } | null = null;
  readonly #handlers: Record<string, Handler<Event>> = {
    open: null,
    message: null,
    error: null,
    close: null,
  };

  /** Use `channel.websocket(url, protocols)`. */
  constructor(url: string | URL, protocols: string | string[] | undefined, host: WebSocketHost) {
    super();
    this.#target = webSocketTarget(url, protocols, host.baseUrl);
    this.url = this.#target.url;
    this.#host = host;
    for (const type of Object.keys(this.#handlers)) {
      this.addEventListener(type, (ev) => {
        const h = this.#handlers[type];
        if (typeof h === "function") h.call(this, ev);
      });
    }
    this.#body = new ReadableStream<Uint8Array>(
      {
        pull: (c) => this.#pull(c),
        cancel: () => this.#dropQueue(),
      },
      // highWaterMark 0: a message leaves the queue only when the pump can send it, so
      // bufferedAmount is what the channel has not taken yet.
      { highWaterMark: 0 },
    );
    void this.#connect();
  }

  // ---- attributes ------------------------------------------------------------------------

  get readyState(): 0 | 1 | 2 | 3 {
    return this.#state;
  }
  /** The subprotocol the origin selected ("" for none). */
  get protocol(): string {
    return this.#protocol;
  }
  get binaryType(): "blob" | "arraybuffer" {
    return this.#binaryType;
  }
  set binaryType(t: "blob" | "arraybuffer") {
    // An enumerated attribute: other values are ignored, as in browsers.
    if (t === "blob" || t === "arraybuffer") this.#binaryType = t;
  }
  /** Payload bytes passed to `send` that the channel has not taken yet. */
  get bufferedAmount(): number {
    return this.#queued + (this.#stream?.unsent ?? 0) + this.#dropped;
  }
  /**
   * Why the gateway refused the WebSocket (null unless it answered with a status other than
   * 200): e.g. `{ status: 403, error: "forbidden" }` for a target no route allows.
   */
  get gatewayError(): WebSocketGatewayError | null {
    return this.#gatewayError;
  }

  get onopen(): Handler<Event> {
    return this.#handlers.open;
  }
  set onopen(h: Handler<Event>) {
    this.#handlers.open = h;
  }
  get onmessage(): Handler<MessageEvent> {
    return this.#handlers.message as Handler<MessageEvent>;
  }
  set onmessage(h: Handler<MessageEvent>) {
    this.#handlers.message = h as Handler<Event>;
  }
  get onerror(): Handler<Event> {
    return this.#handlers.error;
  }
  set onerror(h: Handler<Event>) {
    this.#handlers.error = h;
  }
  get onclose(): Handler<WebSocketCloseEvent> {
    return this.#handlers.close as Handler<WebSocketCloseEvent>;
  }
  set onclose(h: Handler<WebSocketCloseEvent>) {
    this.#handlers.close = h as Handler<Event>;
  }

  // ---- send / close ----------------------------------------------------------------------

  /**
   * Queues a message: a string as text, an ArrayBuffer, a view or a Blob as binary (copied now;
   * a Blob is read in order). InvalidStateError while CONNECTING; after close() the bytes are
   * counted in bufferedAmount and dropped, as browsers do. A message over the channel's
   * max_ws_message fails the socket with 1009 (PROTOCOL.md §6.9).
   */
  send(data: string | ArrayBufferLike | ArrayBufferView | Blob): void {
    if (this.#state === CONNECTING) {
      throw new DOMException("pqgate: the WebSocket is still CONNECTING", "InvalidStateError");
    }
    let kind = WS_KIND_BINARY;
    let payload: Uint8Array | Blob;
    if (typeof Blob !== "undefined" && data instanceof Blob) payload = data;
    else if (ArrayBuffer.isView(data)) {
      payload = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    } else if (data instanceof ArrayBuffer || isSharedArrayBuffer(data)) {
      payload = new Uint8Array(data);
    } else {
      // Anything else is a string to WebIDL, as in browsers; lone surrogates become U+FFFD.
      kind = WS_KIND_TEXT;
      payload = encoder.encode(String(data));
    }
    const size = payload instanceof Uint8Array ? payload.length : payload.size;
    if (this.#state !== OPEN) {
      this.#dropped += size;
      return;
    }
    if (size > this.#max) {
      this.#failSending(1009, `message of ${size} bytes over max_ws_message ${this.#max}`);
      return;
    }
    const bound = this.#host.maxBufferedAmount ?? Math.max(MIN_SEND_BOUND, 2 * this.#max);
    if (this.#queued + size > bound) {
      this.#later(() =>
        this.#finish(
          1006,
          "",
          false,
          new Error(`pqgate: WebSocket send buffer full (over ${bound} bytes queued)`),
          STREAM_CANCEL,
        )
      );
      this.#state = CLOSING;
      return;
    }
    // Copied now (the application may reuse its buffer); a Blob is read in order, later.
    const m: Outgoing = {
      size,
      bytes: payload instanceof Uint8Array
        ? framed(kind, payload)
        : payload.arrayBuffer().then((b) => framed(kind, new Uint8Array(b))),
    };
    if (m.bytes instanceof Promise) m.bytes.catch(() => {}); // awaited by #pull
    this.#queued += size;
    this.#queue.push(m);
    this.#kick();
  }

  /**
   * Starts the closing handshake: a close message with `code` (1000 or 3000-4999, else
   * InvalidAccessError) and `reason` (at most 123 UTF-8 bytes, else SyntaxError), then
   * END_STREAM. The close event comes with the gateway's answer (clean), or after the close
   * timeout with 1006. While CONNECTING the socket fails at once (error, then close 1006).
   */
  close(code?: number, reason?: string): void {
    let c: number | null = null;
    if (code !== undefined) {
      c = Number(code);
      if (!(c === 1000 || (Number.isInteger(c) && c >= 3000 && c <= 4999))) {
        throw new DOMException(
          `pqgate: close code ${code} is neither 1000 nor in 3000-4999`,
          "InvalidAccessError",
        );
      }
    }
    const r = reason === undefined ? "" : String(reason);
    if (encoder.encode(r).length > MAX_CLOSE_REASON) {
      throw new DOMException("pqgate: the close reason is over 123 UTF-8 bytes", "SyntaxError");
    }
    if (this.#state === CLOSING || this.#state === CLOSED) return;
    if (this.#state === CONNECTING) {
      this.#state = CLOSING;
      this.#abort.abort(new Error("pqgate: WebSocket closed before it opened"));
      this.#later(() =>
        this.#finish(
          1006,
          "",
          false,
          new Error("pqgate: WebSocket closed before the connection was established"),
          STREAM_CANCEL,
        )
      );
      return;
    }
    if (c === null && r !== "") c = 1000;
    this.#startClosing({ kind: "close", code: c, reason: r });
  }

  // ---- opening ---------------------------------------------------------------------------

  async #connect(): Promise<void> {
    let session: ClientSession;
    let max: number;
    try {
      session = await this.#host.session();
      max = (await session.sessionInfoReady).maxWsMessage ?? 0;
    } catch (e) {
      this.#fail(`pqgate: the channel could not be opened: ${messageOf(e)}`, e, null);
      return;
    }
    if (this.#state !== CONNECTING) return;
    if (max === 0) {
      this.#fail(
        "pqgate: this gateway does not tunnel WebSockets (its SESSION_INFO offers no max_ws_message, PROTOCOL.md §6.9)",
        null,
        null,
      );
      return;
    }
    this.#max = max;
    let opened: OpenedStream;
    try {
      opened = await session.openStream(this.#target.head, this.#body, {
        signal: this.#abort.signal,
        bodyAfterResponse: true,
      });
    } catch (e) {
      if (this.#state === CONNECTING) {
        this.#fail(`pqgate: the WebSocket stream failed: ${messageOf(e)}`, e, null);
      }
      return;
    }
    this.#stream = opened;
    if (this.#state !== CONNECTING) {
      opened.reset(STREAM_CANCEL, new Error("closed"));
      return;
    }
    if (opened.status !== 200) {
      const token = fieldOf(opened.headers, "pqgate-error");
      this.#gatewayError = { status: opened.status, error: token };
      // The gateway resets the stream after its answer (§6.9); its body is not needed.
      opened.body?.cancel().catch(() => {});
      this.#fail(
        `pqgate: the gateway refused the WebSocket to ${this.url}: HTTP ${opened.status}` +
          (token ? ` (${token})` : ""),
        null,
        null,
      );
      return;
    }
    const selected = fieldOf(opened.headers, "sec-websocket-protocol") ?? "";
    if (!opened.body || (selected !== "" && !this.#target.protocols.includes(selected))) {
      this.#fail(
        opened.body
          ? `pqgate: the gateway selected subprotocol ${JSON.stringify(selected)}, not offered`
          : "pqgate: the gateway's 200 ended the stream",
        null,
        STREAM_INTERNAL,
      );
      return;
    }
    this.#protocol = selected;
    this.#state = OPEN;
    this.dispatchEvent(new Event("open"));
    void this.#read(opened.body);
  }

  // ---- receiving -------------------------------------------------------------------------

  async #read(body: ReadableStream<Uint8Array>): Promise<void> {
    const reader = body.getReader();
    const decoder = new WsMessageDecoder(this.#max);
    try {
      for (;;) {
        const r = await reader.read();
        if (r.done) {
          decoder.end();
          break;
        }
        for (const m of decoder.push(r.value)) this.#onMessage(m);
      }
    } catch (e) {
      if (e instanceof WsMessageError) {
        this.#fail(e.message, e, STREAM_INTERNAL);
      } else if (this.#state !== CLOSED) {
        this.#fail(`pqgate: the WebSocket stream failed: ${messageOf(e)}`, e, null);
      }
      return;
    }
    // Both directions ended, or the gateway's CANCEL for ours follows its close (§6.9). If it
    // does not come within the close timeout, reset the stream ourselves so its slot is free.
    const s = this.#stream;
    if (s && !s.closed) {
      this.#clearTimer();
      this.#timer = setTimeout(() => {
        this.#timer = null;
        s.reset(STREAM_CANCEL, new Error("closed"));
      }, this.#closeTimeoutMs());
    }
  }

  #onMessage(m: WsMessage): void {
    if (m.kind === "close") {
      const failed = this.#failedWith;
      if (failed) this.#finish(failed.code, failed.reason, false, null, null);
      else this.#finish(m.code ?? 1005, m.reason, true, null, null);
      return;
    }
    if (this.#state !== OPEN) return; // after close(): dropped, as in browsers
    let data: string | Blob | ArrayBuffer;
    if (m.kind === "text") data = m.data;
    else if (this.#binaryType === "arraybuffer") data = m.data.buffer as ArrayBuffer;
    else data = new Blob([m.data as Uint8Array<ArrayBuffer>]);
    this.dispatchEvent(messageEvent(data, this.#target.origin));
  }

  // ---- sending ---------------------------------------------------------------------------

  async #pull(c: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    for (;;) {
      const m = this.#queue[0];
      if (m !== undefined) {
        let bytes: Uint8Array;
        try {
          bytes = await m.bytes;
        } catch (e) {
          this.#fail(`pqgate: a Blob could not be read: ${messageOf(e)}`, e, STREAM_CANCEL);
          return;
        }
        if (this.#queue[0] !== m) return; // dropped meanwhile (the socket ended)
        this.#queue.shift();
        this.#queued -= m.size;
        c.enqueue(bytes);
        return;
      }
      if (this.#ending) {
        c.close();
        return;
      }
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  #kick(): void {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }

  #dropQueue(): void {
    this.#queue.length = 0;
    this.#queued = 0;
  }

  /** Queues our close message (the last of our direction; END_STREAM follows) → CLOSING. */
  #startClosing(close: WsMessage & { kind: "close" }): void {
    this.#state = CLOSING;
    const bytes = encodeWsMessage(close, this.#max);
    this.#queue.push({ size: 0, bytes });
    this.#ending = true;
    this.#kick();
    this.#clearTimer();
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#finish(
        1006,
        "",
        false,
        new Error("pqgate: the gateway did not answer the WebSocket close in time"),
        STREAM_CANCEL,
      );
    }, this.#closeTimeoutMs());
  }

  /** The application broke a bound while OPEN (1009): close with that code, report an error. */
  #failSending(code: number, detail: string): void {
    const err = new Error(`pqgate: WebSocket failed: ${detail}`);
    this.#failedWith = { code, reason: "" };
    this.#startClosing({ kind: "close", code, reason: "message too big" });
    this.#later(() => this.dispatchEvent(new WebSocketErrorEvent(err.message, err)));
  }

  // ---- ending ----------------------------------------------------------------------------

  /** Fails the socket: error event, then close 1006 (not clean); `reset` resets the stream. */
  #fail(message: string, cause: unknown, reset: number | null): void {
    const err = new Error(message, cause === null ? undefined : { cause });
    this.#finish(1006, "", false, err, reset);
  }

  #finish(
    code: number,
    reason: string,
    wasClean: boolean,
    error: Error | null,
    reset: number | null,
  ): void {
    if (this.#state === CLOSED) return;
    this.#state = CLOSED;
    this.#clearTimer();
    this.#dropQueue();
    // Before the stream opened: drop the queued CONNECT (or reset it, if it just went out).
    if (!this.#stream) this.#abort.abort(error ?? new Error("closed"));
    else if (reset !== null) this.#stream.reset(reset, error ?? new Error("closed"));
    if (error) this.dispatchEvent(new WebSocketErrorEvent(error.message, error));
    this.dispatchEvent(closeEvent(code, reason, wasClean));
  }

  #closeTimeoutMs(): number {
    return this.#host.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
  }

  #clearTimer(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  /** Runs `f` in a later task (events caused by an application call never fire inside it). */
  #later(f: () => void): void {
    setTimeout(f, 0);
  }
}

/**
 * One text or binary message (`kind | length | payload`, §6.9) from payload bytes already
 * checked against max_ws_message (text already UTF-8: its size was needed for the checks).
 */
function framed(kind: number, payload: Uint8Array): Uint8Array {
  const b = new Uint8Array(WS_MESSAGE_HEADER_LEN + payload.length);
  b[0] = kind;
  new DataView(b.buffer).setUint32(1, payload.length);
  b.set(payload, WS_MESSAGE_HEADER_LEN);
  return b;
}

function isSharedArrayBuffer(d: unknown): d is SharedArrayBuffer {
  return typeof SharedArrayBuffer !== "undefined" && d instanceof SharedArrayBuffer;
}

function fieldOf(headers: [string, string][], name: string): string | null {
  for (const [n, v] of headers) if (n === name) return v;
  return null;
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
