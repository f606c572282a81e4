/**
 * The gateway's streams (streams and flow control, PROTOCOL.md §6.2; HEADERS as Binary HTTP,
 * §6.4; stream errors, §6.5): each request HEADERS from the client opens a stream whose request
 * goes to the gateway's `RequestHandler`; its response goes back as HEADERS and DATA through the
 * output gate (src/tunnel/output-budget.ts). Per-request problems are HTTP error responses
 * (400, 405, 413, 431, 500, 502: src/tunnel/error-response.ts) or a RESET_STREAM, never a close.
 *
 * A stream keeps its `max_streams` slot until the gate let its last frame go; HEADERS past
 * `max_streams` are refused (REFUSED). Frames a client could flood (RESET_STREAM, WINDOW_UPDATE
 * on stream 0 or a forgotten stream, a second WINDOW_UPDATE for one stream in one record, late
 * DATA, refused streams) are charged to the session's control-frame bucket (`host.charge`).
 */
import { PqgateError } from "../protocol/errors.ts";
import {
  type Frame,
  MAX_FRAME_PAYLOAD,
  STREAM_CANCEL,
  STREAM_INTERNAL,
  STREAM_REFUSED,
  STREAM_TOO_LARGE,
} from "../protocol/frames.ts";
import { BhttpError, decodeRequestHead, encodeResponseHead } from "./bhttp.ts";
import { sessionError, type SessionErrorCode } from "./error-response.ts";
import {
  decodedRequestOf,
  RequestMappingError,
  requestOf,
  responseHeadOf,
} from "./http-mapping.ts";
import { IncomingBody } from "./incoming-body.ts";
import { BodyAborted, OutgoingBody } from "./outgoing-body.ts";
import { DEFAULT_MAX_WINDOW_BYTES, type OutputBudget } from "./output-budget.ts";
import type { AccessNote, EventFields, EventName } from "./events.ts";
import { StreamTable } from "./stream-table.ts";
import type {
  ChannelInfo,
  DecodedRequest,
  DecodedResponse,
  RequestHandler,
  SessionLimits,
} from "./types.ts";

/** What the streams need from their session. */
export interface ServerStreamsHost {
  /** Queues a frame on the record channel. */
  send(frame: Frame): void;
  /** The channel's output accounting (exists once the channel is established). */
  budget(): OutputBudget;
  /** What the handler learns about the channel (logs). */
  info(): ChannelInfo;
  /** The ChannelInfo a request is dispatched with (the identity as settled at dispatch). */
  requestInfo(): ChannelInfo;
  /**
   * True while an AUTH is being verified: a request that arrives now is `hold`-queued and
   * dispatched after its result (PROTOCOL.md §6.7). A held stream keeps its table slot, so held
   * requests are bounded by max_streams.
   */
  held(): boolean;
  hold(run: () => void): void;
  /** True while the channel is established. */
  established(): boolean;
  /** Takes a control-frame token; an empty bucket throws rate_limited. */
  charge(what: string): void;
  /** A connection error: closes the channel. */
  fail(e: unknown): void;
  log<E extends EventName>(event: E, fields: EventFields[E]): void;
  /** The sink wants access lines: each stream keeps an access record (else none is made). */
  access: boolean;
  /** A stream was forgotten: the persisted open-stream list is stale. */
  forgotten(): void;
}

/** The session options the streams read (the handler is called as a method of them). */
export interface ServerStreamsOptions {
  limits: SessionLimits;
  handler: RequestHandler;
}

interface ServerStream {
  id: number;
  /** Request body from the client (null when its HEADERS carried END_STREAM). */
  body: IncomingBody | null;
  remoteEnded: boolean;
  /** Response body toward the client (its send window exists from the start). */
  out: OutgoingBody;
  responseStarted: boolean;
  localEnded: boolean;
  /** An error response is on its way: the request body is unwanted and dropped. */
  discardBody: boolean;
  /** A HEAD request: its response goes without content (PROTOCOL.md §6.4), even an error's. */
  isHead: boolean;
  /** A WebSocket stream (PROTOCOL.md §6.9): no body limit; counted in `webSockets`. */
  websocket: boolean;
  abort: AbortController;
  /** The access line's data; null unless the sink wants "request" lines. */
  access: StreamAccess | null;
}

/** One stream's access line data (one object per request, made only when observed). */
interface StreamAccess extends AccessNote {
  started: number;
  method: string;
  status: number;
  gatewayError: string | null;
  outcome: EventFields["request"]["outcome"];
}

export class ServerStreams {
  readonly #o: ServerStreamsOptions;
  readonly #host: ServerStreamsHost;
  readonly #streams = new StreamTable<ServerStream>();
  /** Streams that got their free WINDOW_UPDATE in the record being processed. */
  readonly #windowUpdated = new Set<number>();
  /** The highest stream id the client opened (refused ones included); persisted. */
  highest = 0;
  /** Streams opened (refused ones not counted): channel_close `requests`. */
  opened = 0;
  /** The session drains: new streams are refused (REFUSED, free of charge). */
  draining = false;
  /** Open WebSocket streams (PROTOCOL.md §6.9), bounded by the table (max_streams). */
  #webSockets = 0;

  constructor(opts: ServerStreamsOptions, host: ServerStreamsHost) {
    this.#o = opts;
    this.#host = host;
  }

  /** Number of open streams. */
  get size(): number {
    return this.#streams.size;
  }

  /** Number of open WebSocket streams (PROTOCOL.md §6.9). */
  get webSockets(): number {
    return this.#webSockets;
  }

  /** Ids of the open streams (for the session snapshot). */
  ids(): number[] {
    return this.#streams.ids();
  }

  /** Bytes waiting in request-body queues. */
  get bufferedBytes(): number {
    let n = 0;
    for (const s of this.#streams.values()) n += s.body?.buffered ?? 0;
    return n;
  }

  /** The largest send window a client may grant on one stream (SESSION_INFO max_window). */
  get maxWindow(): number {
    return this.#o.limits.maxWindowBytes ?? DEFAULT_MAX_WINDOW_BYTES;
  }

  /** A new record's frames follow: each stream's first WINDOW_UPDATE in it is free again. */
  newRecord(): void {
    this.#windowUpdated.clear();
  }

  /** A HEADERS, DATA, RESET_STREAM or WINDOW_UPDATE frame from the client. */
  onFrame(f: Frame): void {
    switch (f.type) {
      case "headers":
        this.#onHeaders(f.stream, f.endStream, f.payload);
        return;
      case "data":
        this.#onData(f.stream, f.endStream, f.payload);
        return;
      case "reset_stream": {
        this.#host.charge("RESET_STREAM");
        const s = this.#lookup(f.stream);
        if (!s) return;
        if (s.access) s.access.outcome = "reset";
        this.#forget(s);
        const reason = new DOMException("stream reset by client", "AbortError");
        s.abort.abort(reason);
        s.body?.error(reason);
        s.out.abort(reason);
        return;
      }
      case "window_update": {
        if (f.stream === 0) return this.#host.charge("WINDOW_UPDATE on stream 0"); // reserved, ignored (§6.2)
        const s = this.#lookup(f.stream);
        if (!s) return this.#host.charge("WINDOW_UPDATE on a forgotten stream");
        // One WINDOW_UPDATE per stream and record is free; more in the same record cost a token.
        if (this.#windowUpdated.has(s.id)) this.#host.charge("WINDOW_UPDATE");
        else this.#windowUpdated.add(s.id);
        s.out.addWindow(f.increment); // past max_window → limit_exceeded (4013)
        return;
      }
    }
  }

  /** The channel ended: every stream's request is aborted and its bodies fail with `reason`. */
  closeAll(reason: unknown): void {
    const abort = new DOMException("channel closed", "AbortError");
    for (const s of this.#streams.values()) {
      if (s.access) {
        s.access.outcome = "closed";
        this.#accessLine(s);
      }
      s.abort.abort(abort);
      s.body?.error(reason);
      s.out.abort(reason);
    }
    this.#streams.clear();
    this.#webSockets = 0;
  }

  /** A live stream, or null for a late frame on a forgotten one; unknown above → error. */
  #lookup(id: number): ServerStream | null {
    return this.#streams.lookup(id, this.highest + 1);
  }

  #onHeaders(id: number, endStream: boolean, payload: Uint8Array): void {
    if (this.#streams.has(id)) {
      throw new PqgateError("protocol_error", "second HEADERS on a stream");
    }
    if (id % 2 === 0 || id <= this.highest) {
      throw new PqgateError("protocol_error", "stream id not increasing");
    }
    this.highest = id;
    const o = this.#o;
    if (this.draining) {
      this.#host.send({ type: "reset_stream", stream: id, errorCode: STREAM_REFUSED });
      this.#host.log("refused", { reason: "shutting_down", status: 0 });
      return;
    }
    if (this.#streams.size >= o.limits.maxStreams) {
      this.#host.charge("stream refused past max_streams");
      this.#host.send({ type: "reset_stream", stream: id, errorCode: STREAM_REFUSED });
      this.#host.log("refused", { reason: "max_streams", status: 0 });
      return;
    }
    const s: ServerStream = {
      id,
      body: null,
      remoteEnded: endStream,
      out: new OutgoingBody({
        sendData: (p, end) =>
          this.#host.send({ type: "data", stream: id, endStream: end, payload: p }),
        drain: this.#host.budget().wait,
        maxWindow: this.maxWindow,
      }),
      responseStarted: false,
      localEnded: false,
      discardBody: false,
      isHead: false,
      websocket: false,
      abort: new AbortController(),
      access: null,
    };
    if (this.#host.access) {
      s.access = {
        started: Date.now(),
        method: "",
        status: 0,
        gatewayError: null,
        outcome: "complete",
        route: "gateway",
        originMs: null,
        authority: null,
        path: null,
        authMethod: null,
      };
      this.#host.log("stream_open", { sessionId: this.#host.info().sessionId, stream: id });
    }
    this.opened++;
    if (!endStream) {
      s.body = new IncomingBody({
        grant: (n) => this.#host.send({ type: "window_update", stream: id, increment: n }),
      });
    }
    this.#streams.add(s);

    const handler = o.handler;
    const decoded = handler.decoded;
    let request: Request | DecodedRequest;
    try {
      const head = decodeRequestHead(payload, { maxBytes: o.limits.maxHeaderBytes });
      s.isHead = head.method.toUpperCase() === "HEAD";
      if (s.access) s.access.method = head.method.length <= 16 ? head.method : "(long)";
      // A WebSocket head (§6.9) has no body limit: its content-length is a 400 at step 4.
      const wsHead = head.method === "CONNECT" &&
        head.headers.some(([n]) => n === "pqgate-protocol");
      if (o.limits.maxBodyBytes > 0 && !wsHead) {
        const cl = head.headers.find(([n]) => n === "content-length");
        if (cl && /^\d+$/.test(cl[1]) && Number(cl[1]) > o.limits.maxBodyBytes) {
          this.#respondError(s, "body_too_large");
          return;
        }
      }
      // The gateway's own handler takes the checked head without a Request (types.ts).
      // WebSocket streams only through `decoded` and when max_ws_message is offered (else 405).
      request = decoded
        ? decodedRequestOf(
          head,
          s.body?.stream ?? null,
          s.abort.signal,
          wsHead
            ? {
              maxMessage: o.limits.maxWsMessage ?? 0,
              channelSockets: this.#webSockets + 1,
            }
            : null,
        )
        : requestOf(head, s.body?.stream ?? null, s.abort.signal);
      if ((request as DecodedRequest).websocket) {
        s.websocket = true;
        this.#webSockets++;
      }
    } catch (e) {
      if (e instanceof BhttpError || e instanceof RequestMappingError) {
        this.#host.log("request_rejected", {
          sessionId: this.#host.info().sessionId,
          stream: id,
          status: e.status,
          reason: e.message,
        });
        this.#respondError(
          s,
          e.status === 431
            ? "headers_too_large"
            : e.status === 413
            ? "body_too_large"
            : e.status === 405
            ? "method_not_allowed"
            : "bad_request",
        );
        return;
      }
      throw e;
    }
    if (this.#host.held()) this.#host.hold(() => this.#dispatch(s, request));
    else this.#dispatch(s, request);
  }

  /** Calls the handler for a stream's checked request (at once, or after an AUTH's result). */
  #dispatch(s: ServerStream, request: Request | DecodedRequest): void {
    // Held behind an AUTH: the stream may have been reset or the channel closed meanwhile.
    if (!this.#streams.isLive(s) || s.abort.signal.aborted) return;
    const id = s.id;
    const handler = this.#o.handler;
    const decoded = handler.decoded;
    const info = this.#host.requestInfo();
    let pending: Promise<Response | DecodedResponse>;
    try {
      pending = Promise.resolve(
        decoded
          ? (s.access
            ? handler.decoded!(request as DecodedRequest, info, s.access)
            : handler.decoded!(request as DecodedRequest, info))
          : s.access
          ? handler(request as Request, info, s.access)
          : handler(request as Request, info),
      );
    } catch (e) {
      pending = Promise.reject(e);
    }
    pending.then(
      (res) => this.#sendResponse(s, res, decoded !== undefined),
      (e) => {
        if (!this.#streams.isLive(s) || s.responseStarted) return;
        if (s.abort.signal.aborted) return;
        this.#host.log("handler_error", {
          sessionId: info.sessionId,
          stream: id,
          error: (e as Error)?.name ?? "Error",
        });
        this.#respondError(s, "internal_error");
      },
    );
  }

  #onData(id: number, endStream: boolean, payload: Uint8Array): void {
    const s = this.#lookup(id);
    if (!s) return this.#host.charge("DATA on a forgotten stream");
    if (s.remoteEnded || !s.body) throw new PqgateError("protocol_error", "DATA after END_STREAM");
    s.body.push(payload, endStream); // limit_exceeded when over the window
    if (endStream) s.remoteEnded = true;
    const max = this.#o.limits.maxBodyBytes;
    if (max > 0 && s.body.received > max && !s.discardBody && !s.websocket) {
      this.#host.log("request_rejected", {
        sessionId: this.#host.info().sessionId,
        stream: id,
        status: 413,
        reason: "body over max_body_bytes",
      });
      const reason = new DOMException("request body too large", "AbortError");
      s.body.error(reason);
      if (!s.responseStarted) {
        s.abort.abort(reason);
        this.#respondError(s, "body_too_large");
      } else {
        this.#reset(s, STREAM_TOO_LARGE, reason);
      }
      return;
    }
    if (s.remoteEnded && s.localEnded) this.#forget(s);
  }

  // ---- responses -------------------------------------------------------------------------

  /** `parts`: the handler answered through `decoded`, so a DecodedResponse is valid too. */
  #sendResponse(s: ServerStream, res: Response | DecodedResponse, parts: boolean): void {
    try {
      this.#sendResponseOrThrow(s, res, parts);
    } catch (e) {
      this.#host.fail(e);
    }
  }

  #sendResponseOrThrow(s: ServerStream, res: Response | DecodedResponse, parts: boolean): void {
    const isResponse = res instanceof Response;
    const decoded = !isResponse && parts && isDecodedResponse(res) ? res : null;
    const ok = isResponse || decoded !== null;
    const cancel = () => {
      if (isResponse) res.body?.cancel().catch(() => {});
      else if (decoded) cancelBody(decoded.body);
    };
    if (!this.#streams.isLive(s) || s.responseStarted || !this.#host.established()) {
      cancel();
      return;
    }
    let head: Uint8Array;
    try {
      if (!ok) throw new TypeError("handler did not return a Response");
      head = encodeResponseHead(
        isResponse ? responseHeadOf(res) : { status: decoded!.status, headers: decoded!.headers },
      );
      if (head.length > MAX_FRAME_PAYLOAD) throw new BhttpError(431, "response head too large");
    } catch (e) {
      cancel();
      this.#host.log("handler_error", {
        sessionId: this.#host.info().sessionId,
        stream: s.id,
        error: (e as Error)?.message ?? "bad response",
      });
      this.#respondError(
        s,
        e instanceof BhttpError && e.status === 431 ? "origin_headers_too_large" : "bad_response",
      );
      return;
    }
    if (isResponse) {
      if (s.access) {
        s.access.status = res.status;
        s.access.gatewayError = res.headers.get("pqgate-error");
      }
      this.#startResponse(s, head, res.body, declaredLength(res.headers.get("content-length")));
      return;
    }
    const d = decoded!;
    if (s.access) s.access.status = d.status; // never a pqgate-error: the proxy drops origins' ones
    const cl = d.headers.find(([n]) => n === "content-length");
    this.#startResponse(s, head, d.body, declaredLength(cl ? cl[1] : null));
  }

  /** A session-made error response (src/tunnel/error-response.ts: `pqgate-error`, JSON body). */
  #respondError(s: ServerStream, code: SessionErrorCode): void {
    s.discardBody = true;
    s.body?.error(new DOMException("request rejected", "AbortError"));
    const { head: errorHead, body } = sessionError(code);
    if (code === "body_too_large" || code === "headers_too_large") {
      this.#host.log("refused", { reason: code, status: errorHead.status });
    }
    if (s.access) {
      s.access.status = errorHead.status;
      s.access.gatewayError = code;
    }
    const head = encodeResponseHead(errorHead);
    this.#startResponse(s, head, body, body.length);
  }

  /** HEADERS wait for the output gate like DATA does (a bodiless response included). */
  #startResponse(
    s: ServerStream,
    head: Uint8Array,
    body: ReadableStream<Uint8Array> | Uint8Array | null,
    length: number | null,
  ): void {
    s.responseStarted = true;
    if (s.isHead && body !== null) {
      cancelBody(body);
      body = null;
    }
    const gate = this.#host.budget().wait();
    if (gate) gate.then(() => this.#sendHead(s, head, body, length));
    else this.#sendHead(s, head, body, length);
  }

  /**
   * HEADERS, then the body through the stream's OutgoingBody. With a declared length the
   * HEADERS of a small body wait for its first bytes and END_STREAM rides on the last DATA
   * frame, so a small response is one record (outgoing-body.ts).
   */
  #sendHead(
    s: ServerStream,
    head: Uint8Array,
    body: ReadableStream<Uint8Array> | Uint8Array | null,
    length: number | null,
  ): void {
    if (!this.#streams.isLive(s) || !this.#host.established()) {
      cancelBody(body);
      return;
    }
    const headers = (endStream: boolean) =>
      this.#host.send({ type: "headers", stream: s.id, endStream, payload: head });
    if (body === null) {
      headers(true);
      this.#localEnd(s);
      return;
    }
    // A WebSocket relay errors its message stream to fail the socket (§6.9): noticed at once,
    // also while the pump waits for window (a client that stops reading).
    s.out.pump(body, { length, head: () => headers(false), watchSource: s.websocket }).then(
      () => this.#localEnd(s),
      (e) => {
        if (e instanceof BodyAborted || !this.#streams.isLive(s)) return;
        this.#host.log("response_body_error", {
          sessionId: this.#host.info().sessionId,
          stream: s.id,
          error: (e as Error)?.name ?? "Error",
        });
        this.#reset(s, STREAM_INTERNAL, e);
      },
    );
  }

  /** The last frame is queued: the stream keeps its slot until the output gate lets it go. */
  #localEnd(s: ServerStream): void {
    const gate = this.#host.budget().wait();
    if (gate) gate.then(() => this.#localEndNow(s));
    else this.#localEndNow(s);
  }

  #localEndNow(s: ServerStream): void {
    s.localEnded = true;
    if (!this.#streams.isLive(s) || !this.#host.established()) return;
    if (s.remoteEnded) {
      this.#forget(s);
      return;
    }
    // The response is complete but the request body is still coming: stop the upload
    // (the client keeps the complete response, §6.5 CANCEL).
    this.#reset(s, STREAM_CANCEL, new DOMException("response complete", "AbortError"));
  }

  #reset(s: ServerStream, code: number, reason: unknown): void {
    if (!this.#streams.isLive(s)) return;
    if (s.access && code !== STREAM_CANCEL) s.access.outcome = "reset";
    this.#forget(s);
    this.#host.send({ type: "reset_stream", stream: s.id, errorCode: code });
    s.body?.error(reason);
    s.out.abort(reason);
    if (code !== STREAM_CANCEL) s.abort.abort(reason);
  }

  #forget(s: ServerStream): void {
    if (!this.#streams.forget(s)) return;
    if (s.websocket) this.#webSockets--;
    if (s.access) this.#accessLine(s);
    this.#host.forgotten();
  }

  /** The stream's `request` event (its access line), once: when it leaves the table. */
  #accessLine(s: ServerStream): void {
    const a = s.access!;
    s.access = null;
    const info = this.#host.info();
    this.#host.log("request", {
      sessionId: info.sessionId,
      stream: s.id,
      method: a.method,
      route: a.route,
      status: a.status,
      gatewayError: a.gatewayError,
      bytesIn: s.body?.received ?? 0,
      bytesOut: s.out.sent,
      ms: Date.now() - a.started,
      originMs: a.originMs,
      outcome: a.outcome,
      authority: a.authority,
      path: a.path,
      clientAddress: info.clientAddress,
      authMethod: a.authMethod,
    });
  }
}

/** Cancels a response body that is a stream (a whole one is just dropped). */
function cancelBody(body: ReadableStream<Uint8Array> | Uint8Array | null): void {
  if (body instanceof ReadableStream) body.cancel().catch(() => {});
}

/** The shape of a DecodedResponse (types.ts), checked before it is trusted as one. */
function isDecodedResponse(r: unknown): r is DecodedResponse {
  if (typeof r !== "object" || r === null) return false;
  const d = r as DecodedResponse;
  return Number.isInteger(d.status) && Array.isArray(d.headers) &&
    (d.body === null || d.body instanceof Uint8Array || d.body instanceof ReadableStream);
}

/** A response's content-length as a number, or null when absent or not a plain decimal. */
function declaredLength(v: string | null): number | null {
  return v !== null && /^[0-9]{1,15}$/.test(v) ? Number(v) : null;
}
