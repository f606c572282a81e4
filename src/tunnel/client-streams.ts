/**
 * The client's streams (streams and flow control, PROTOCOL.md §6.2; HEADERS, §6.4; stream
 * errors, §6.5): `fetch` calls, and `open` calls (a request head without a `Request`, e.g. the
 * CONNECT of a WebSocket stream, §6.9), wait in a queue until the channel is up and a stream slot
 * is free (`max_streams`, §6.3), then go out as streams with odd ids; the gateway's HEADERS, DATA,
 * RESET_STREAM and WINDOW_UPDATE frames settle them. A stream the gateway refused unprocessed
 * (REFUSED) is retried, a few times, when its request has no body.
 */
import { PqgateError } from "../protocol/errors.ts";
import {
  type Frame,
  MAX_FRAME_PAYLOAD,
  STREAM_CANCEL,
  STREAM_ERROR_NAMES,
  STREAM_INTERNAL,
  STREAM_REFUSED,
} from "../protocol/frames.ts";
import {
  BhttpError,
  decodeResponseHead,
  encodeRequestHead,
  type RequestHead,
  type ResponseHead,
} from "./bhttp.ts";
import { isNullBodyStatus, requestHeadOf, responseOf } from "./http-mapping.ts";
import { IncomingBody } from "./incoming-body.ts";
import { BodyAborted, OutgoingBody } from "./outgoing-body.ts";
import { StreamTable } from "./stream-table.ts";

/** A stream ended by RESET_STREAM from the gateway (§6.5). */
export class StreamResetError extends Error {
  constructor(readonly code: number) {
    super(`pqgate: the gateway reset the stream (${STREAM_ERROR_NAMES[code] ?? `code ${code}`})`);
    this.name = "StreamResetError";
  }
}

export interface FetchOptions {
  signal?: AbortSignal | null;
  /** Body size in bytes when known; sent as content-length (ignored for bodyless requests). */
  contentLength?: number | null;
}

/** What the streams need from their session. */
export interface ClientStreamsHost {
  /** Queues a frame on the record channel (dropped when there is none). */
  send(frame: Frame): void;
  /** Socket backpressure for request bodies (null when the socket can take more now). */
  drain: () => Promise<void> | null;
  /** True while the channel is established (queued requests may go out). */
  established(): boolean;
  /** Streams open at most: SESSION_INFO max_streams, or the initial guess before it. */
  maxStreams(): number;
  /** The error a new fetch fails with once the channel ended, null while it has not. */
  closedError(): Error | null;
  /** A connection error: closes the channel. */
  fail(e: unknown): void;
}

export interface OpenOptions {
  /** Aborting resets the stream with CANCEL (or drops the queued open). */
  signal?: AbortSignal | null;
  /**
   * Send the request body only once a 2xx response head arrived (a WebSocket stream: the client
   * sends no DATA before the 200, PROTOCOL.md §6.9). Any other status: the body is never read
   * and is cancelled when the stream ends (the gateway resets it with CANCEL, §6.4).
   */
  bodyAfterResponse?: boolean;
}

/** A stream opened by `open`: the response head, its body, and the stream's own controls. */
export interface OpenedStream {
  status: number;
  /** The response's field lines, lowercase names, in order. */
  headers: [string, string][];
  /**
   * The response body (null: the HEADERS carried END_STREAM). Window is granted back as it is
   * read (incoming-body.ts), so the reader's pace is the gateway's send pace on this stream.
   */
  body: ReadableStream<Uint8Array> | null;
  /** Request-body bytes read from the source and not yet sent as DATA (at most one chunk). */
  readonly unsent: number;
  /** True once the stream closed: both directions ended, or it was reset (§6.2). */
  readonly closed: boolean;
  /** Resets the stream with `code` (§6.5) unless it already closed; the body fails with `reason`. */
  reset(code: number, reason: unknown): void;
}

interface Pending {
  /** The request head; a throw (a bad head) rejects the call when the stream would open. */
  head: () => RequestHead;
  method: string;
  body: ReadableStream<Uint8Array> | null;
  bodyAfterResponse: boolean;
  signal: AbortSignal | null;
  /** What the call resolves with, made from the response head (a throw resets the stream). */
  build: (head: ResponseHead, body: ReadableStream<Uint8Array> | null, s: ClientStream) => unknown;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  retries: number;
  onAbort: (() => void) | null;
}

interface ClientStream {
  id: number;
  p: Pending;
  out: OutgoingBody;
  localEnded: boolean;
  remoteEnded: boolean;
  headersReceived: boolean;
  body: IncomingBody | null;
  settled: boolean;
  /** The request body's pump started (with bodyAfterResponse: only after a 2xx). */
  pumping: boolean;
}

const MAX_REFUSED_RETRIES = 5;
/** Stream ids stop at 2^31-1; past it the channel needs a new handshake. */
const MAX_STREAM_ID = 0x7fffffff;

export class ClientStreams {
  readonly #host: ClientStreamsHost;
  readonly #streams = new StreamTable<ClientStream>();
  readonly #pending: Pending[] = [];
  #nextId = 1;

  constructor(host: ClientStreamsHost) {
    this.#host = host;
  }

  /** Open streams plus queued requests. */
  get active(): number {
    return this.#streams.size + this.#pending.length;
  }

  /** Bytes waiting in response-body queues. */
  get bufferedBytes(): number {
    let n = 0;
    for (const s of this.#streams.values()) n += s.body?.buffered ?? 0;
    return n;
  }

  /** See `ClientSession.fetch`. */
  fetch(request: Request, opts: FetchOptions): Promise<Response> {
    const contentLength = opts.contentLength ?? null;
    return this.#enqueue<Response>({
      head: () => {
        const h = requestHeadOf(request);
        if (
          contentLength !== null && request.body !== null &&
          !h.headers.some(([n]) => n === "content-length")
        ) {
          h.headers.push(["content-length", String(contentLength)]);
        }
        return h;
      },
      method: request.method,
      body: request.body,
      bodyAfterResponse: false,
      signal: opts.signal ?? null,
      build: (head, body) => responseOf(head, body, request.url),
    });
  }

  /**
   * Opens a stream with `head` (no `Request` needed: browsers and Deno refuse to make one with
   * method CONNECT) and `body` (null: END_STREAM on the HEADERS); resolves once the response
   * HEADERS arrived. See `OpenOptions`, `OpenedStream`.
   */
  open(
    head: RequestHead,
    body: ReadableStream<Uint8Array> | null,
    opts: OpenOptions = {},
  ): Promise<OpenedStream> {
    return this.#enqueue<OpenedStream>({
      head: () => ({ ...head, headers: [...head.headers] }),
      method: head.method,
      body,
      bodyAfterResponse: opts.bodyAfterResponse ?? false,
      signal: opts.signal ?? null,
      build: (h, b, s) => {
        const isLive = () => this.#streams.isLive(s);
        const reset = (code: number, reason: unknown) => this.#resetStream(s, code, reason);
        return {
          status: h.status,
          headers: h.headers,
          body: b,
          get unsent() {
            return s.out.buffered;
          },
          get closed() {
            return !isLive();
          },
          reset,
        };
      },
    });
  }

  #enqueue<T>(
    o: Omit<Pending, "resolve" | "reject" | "retries" | "onAbort">,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const closed = this.#host.closedError();
      if (closed) {
        o.body?.cancel(closed).catch(() => {});
        reject(closed);
        return;
      }
      const sig = o.signal;
      if (sig?.aborted) {
        o.body?.cancel(sig.reason).catch(() => {});
        reject(sig.reason);
        return;
      }
      const p: Pending = {
        ...o,
        resolve: resolve as (v: unknown) => void,
        reject,
        retries: 0,
        onAbort: null,
      };
      if (sig) {
        p.onAbort = () => this.#abort(p, sig.reason);
        sig.addEventListener("abort", p.onAbort, { once: true });
      }
      this.#pending.push(p);
      this.pump();
    });
  }

  /** Opens queued requests while the channel is up and stream slots are free. */
  pump(): void {
    if (!this.#host.established()) return;
    while (this.#pending.length > 0 && this.#streams.size < this.#host.maxStreams()) {
      this.#open(this.#pending.shift()!);
    }
  }

  /** A HEADERS, DATA, RESET_STREAM or WINDOW_UPDATE frame from the gateway. */
  onFrame(f: Frame): void {
    switch (f.type) {
      case "headers":
        this.#onHeaders(f.stream, f.endStream, f.payload);
        return;
      case "data": {
        const s = this.#lookup(f.stream);
        if (!s) return;
        if (!s.headersReceived) throw new PqgateError("protocol_error", "DATA before HEADERS");
        if (s.remoteEnded) throw new PqgateError("protocol_error", "DATA after END_STREAM");
        if (!s.body) throw new PqgateError("protocol_error", "DATA on a response without body");
        s.body.push(f.payload, f.endStream);
        if (f.endStream) {
          s.remoteEnded = true;
          if (s.localEnded) this.#forget(s);
        }
        return;
      }
      case "reset_stream": {
        const s = this.#lookup(f.stream);
        if (!s) return;
        this.#forget(s);
        this.#abortOut(s, new StreamResetError(f.errorCode));
        if (
          !s.settled && f.errorCode === STREAM_REFUSED && s.p.body === null &&
          s.p.retries < MAX_REFUSED_RETRIES
        ) {
          // Not processed (§6.5): retry when a stream slot is free.
          s.p.retries++;
          this.#pending.unshift(s.p);
          this.pump();
          return;
        }
        if (s.settled && s.remoteEnded) return; // complete response; the upload just stops
        this.#failStream(s, new StreamResetError(f.errorCode));
        return;
      }
      case "window_update": {
        if (f.stream === 0) return;
        this.#lookup(f.stream)?.out.addWindow(f.increment);
        return;
      }
    }
  }

  /** The channel ended: every stream and queued request fails with `err`. */
  failAll(err: unknown): void {
    for (const s of [...this.#streams.values()]) {
      this.#abortOut(s, err);
      this.#failStream(s, err);
      this.#settle(s.p);
    }
    this.#streams.clear();
    for (const p of this.#pending.splice(0)) {
      this.#settle(p);
      p.reject(err);
    }
  }

  #open(p: Pending): void {
    let head: Uint8Array;
    try {
      head = encodeRequestHead(p.head());
      if (head.length > MAX_FRAME_PAYLOAD) {
        throw new TypeError(
          `pqgate: request headers too large (${head.length} > ${MAX_FRAME_PAYLOAD} bytes)`,
        );
      }
    } catch (e) {
      this.#settle(p);
      p.reject(
        e instanceof BhttpError ? new TypeError(`pqgate: invalid request: ${e.message}`) : e,
      );
      return;
    }
    if (this.#nextId > MAX_STREAM_ID) {
      // Stream ids exhausted: this channel cannot open more; the caller reconnects.
      this.#pending.unshift(p);
      this.#host.fail(new PqgateError("rehandshake_required", "stream ids exhausted"));
      return;
    }
    const id = this.#nextId;
    this.#nextId += 2;
    const body = p.body;
    const s: ClientStream = {
      id,
      p,
      out: new OutgoingBody({
        sendData: (payload, end) =>
          this.#host.send({ type: "data", stream: id, endStream: end, payload }),
        drain: this.#host.drain,
      }),
      localEnded: body === null,
      remoteEnded: false,
      headersReceived: false,
      body: null,
      settled: false,
      pumping: false,
    };
    this.#streams.add(s);
    this.#host.send({ type: "headers", stream: id, endStream: body === null, payload: head });
    if (body !== null && !p.bodyAfterResponse) this.#pumpBody(s, body);
  }

  #pumpBody(s: ClientStream, body: ReadableStream<Uint8Array>): void {
    s.pumping = true;
    s.out.pump(body).then(
      () => {
        s.localEnded = true;
        if (s.remoteEnded) this.#forget(s);
      },
      (e) => {
        if (e instanceof BodyAborted || !this.#streams.isLive(s)) return;
        // The request body failed: the request is void.
        this.#resetStream(s, STREAM_INTERNAL, e);
      },
    );
  }

  #abort(p: Pending, reason: unknown): void {
    const i = this.#pending.indexOf(p);
    if (i >= 0) {
      this.#pending.splice(i, 1);
      this.#settle(p);
      p.reject(reason);
      return;
    }
    for (const s of this.#streams.values()) {
      if (s.p === p) {
        this.#resetStream(s, STREAM_CANCEL, reason);
        return;
      }
    }
  }

  /** Ends a stream locally: RESET_STREAM to the gateway, fails whatever is still pending. */
  #resetStream(s: ClientStream, code: number, reason: unknown): void {
    if (!this.#streams.isLive(s)) return;
    this.#forget(s);
    this.#host.send({ type: "reset_stream", stream: s.id, errorCode: code });
    this.#abortOut(s, reason);
    this.#failStream(s, reason);
  }

  #failStream(s: ClientStream, reason: unknown): void {
    if (!s.settled) {
      s.settled = true;
      this.#settle(s.p);
      s.p.reject(reason);
    } else if (s.body && !s.body.endReceived) {
      s.body.error(reason);
    }
  }

  /** Stops the request body: its pump, or the unread source of a body never pumped. */
  #abortOut(s: ClientStream, reason: unknown): void {
    s.out.abort(reason);
    if (!s.pumping) {
      s.pumping = true; // once
      s.p.body?.cancel(reason).catch(() => {});
    }
  }

  #settle(p: Pending): void {
    if (p.onAbort && p.signal) p.signal.removeEventListener("abort", p.onAbort);
    p.onAbort = null;
  }

  #forget(s: ClientStream): void {
    if (!this.#streams.forget(s)) return;
    if (!s.body || s.body.done) this.#settle(s.p);
    this.pump();
  }

  #lookup(id: number): ClientStream | null {
    return this.#streams.lookup(id, this.#nextId); // below nextId: a late frame for a stream we forgot
  }

  #onHeaders(id: number, endStream: boolean, payload: Uint8Array): void {
    const s = this.#lookup(id);
    if (!s) return;
    if (s.headersReceived) throw new PqgateError("protocol_error", "second HEADERS on a stream");
    s.headersReceived = true;
    s.remoteEnded = endStream;
    let result: unknown;
    let status = 0;
    let nullBody = false;
    try {
      const head = decodeResponseHead(payload, { maxBytes: MAX_FRAME_PAYLOAD });
      if (!endStream) {
        s.body = new IncomingBody({
          grant: (n) => this.#host.send({ type: "window_update", stream: id, increment: n }),
          onCancel: (reason) => {
            if (this.#streams.isLive(s) && !s.remoteEnded) {
              this.#resetStream(s, STREAM_CANCEL, reason);
            }
          },
        });
      }
      status = head.status;
      nullBody = isNullBodyStatus(head.status) || s.p.method === "HEAD";
      result = s.p.build(head, nullBody ? null : s.body?.stream ?? null, s);
    } catch (e) {
      const err = e instanceof BhttpError
        ? new TypeError(`pqgate: invalid response from gateway: ${e.message}`)
        : e;
      this.#resetStream(s, STREAM_INTERNAL, err);
      return;
    }
    s.settled = true;
    if (nullBody && s.body) {
      // No body expected (HEAD, 204, 304, ...): drop whatever comes and stop the gateway from
      // sending more. Settled first, so the reset this causes cannot fail the response.
      this.#settle(s.p);
      s.body.stream.cancel().catch(() => {});
    } else if (s.remoteEnded && s.localEnded) this.#forget(s);
    else if (!s.body) this.#settle(s.p);
    s.p.resolve(result);
    const body = s.p.body;
    if (s.p.bodyAfterResponse && body !== null && !s.pumping && this.#streams.isLive(s)) {
      if (status >= 200 && status <= 299) this.#pumpBody(s, body);
      // Any other status refused the stream: the gateway resets it (CANCEL, §6.4), and the
      // body, never read, is cancelled then.
    }
  }
}
