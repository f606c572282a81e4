/**
 * The client side of one pqgate/1 channel over one socket: runs the handshake (§3, §7), then
 * multiplexes `fetch` calls as streams with odd ids (§6.2). Requests made before the handshake
 * completed are queued and go out right after ClientFinished (1 RTT to the first request).
 *
 * Transport contract (same as the gateway's ServerSession): `start()` once the socket is open,
 * `receive(message)` for each WebSocket message, `onSocketClose` when it closed, and a timer
 * for `nextDeadline()` calling `onTimer(now)` (see timer-driver.ts).
 */
import { CLOSE_NORMAL, CLOSE_REASONS, closeCodeFor, type ErrorCode, PqgateError } from "../protocol/errors.ts";
import { toHex } from "../protocol/bytes.ts";
import { MSG_SERVER_HELLO, RANDOM_LEN, type SuiteId, XWING_ESEED_LEN, XWING_SEED_LEN } from "../protocol/constants.ts";
import { type Frame, MAX_FRAME_PAYLOAD, type SessionInfo, STREAM_CANCEL, STREAM_ERROR_NAMES, STREAM_INTERNAL, STREAM_REFUSED } from "../protocol/frames.ts";
import { ClientHandshake } from "../protocol/handshake-client.ts";
import { type RecordLimits, RecordLayer } from "../protocol/record-layer.ts";
import type { HybridKem } from "../protocol/types.ts";
import { BhttpError, decodeResponseHead, encodeRequestHead } from "./bhttp.ts";
import { isNullBodyStatus, requestHeadOf, responseOf } from "./http-mapping.ts";
import { IncomingBody } from "./incoming-body.ts";
import { BodyAborted, OutgoingBody } from "./outgoing-body.ts";
import { RecordChannel } from "./record-channel.ts";
import { SocketDrain, type SocketDrainOptions } from "./socket-drain.ts";
import type { Env, Socket } from "./types.ts";

export type ClientSessionState = "idle" | "clientHelloSent" | "established" | "closed";

/** How a channel ended. */
export interface CloseInfo {
  /** WebSocket / pqgate close code (PROTOCOL.md §9). */
  code: number;
  reason: string;
  /** True when the gateway closed (CLOSE frame or socket close), false when we did. */
  byPeer: boolean;
  /** Whether the handshake had completed. */
  phase: "handshake" | "established";
}

/** Handshake timing and sizes (for demos and metrics). */
export interface HandshakeInfo {
  startedAt: number;
  completedAt: number | null;
  durationMs: number | null;
  clientHelloBytes: number;
  serverHelloBytes: number;
  clientFinishedBytes: number;
  mode: "pinned" | "anonymous";
}

/** A stream ended by RESET_STREAM from the gateway (§6.5). */
export class StreamResetError extends Error {
  constructor(readonly code: number) {
    super(`pqgate: the gateway reset the stream (${STREAM_ERROR_NAMES[code] ?? `code ${code}`})`);
    this.name = "StreamResetError";
  }
}

/**
 * A client KEM whose work can run asynchronously (e.g. native WebCrypto ML-KEM) before the
 * synchronous core asks for it; see src/client/webcrypto-kem.ts. The sync `HybridKem` methods
 * return a prepared result only for exactly the prepared input, anything else is computed
 * synchronously, so preparing never changes what the core decides.
 */
export interface PreparableClientKem extends HybridKem {
  /** Precomputes keygen(seed) and, with a server key, encapsulate(serverPublicKey, eseed). Never rejects. */
  prepareClient(input: { seed: Uint8Array; serverPublicKey: Uint8Array | null; eseed: Uint8Array | null }): Promise<void>;
  /** Precomputes the decapsulation of the ServerHello's ct_E with the prepared key. Never rejects. */
  prepareServerHello?(serverHello: Uint8Array): Promise<void>;
  /** Wipes whatever is prepared and unused. */
  discard?(): void;
}

/** A ClientHello built ahead of the socket (see `prepareClientHello`). */
export interface PreparedClientHello {
  handshake: ClientHandshake;
  clientHello: Uint8Array<ArrayBuffer>;
  /** The KEM the handshake uses, when it has an async ServerHello step (`prepareServerHello`). */
  kem?: PreparableClientKem;
}

/**
 * Builds the ClientHello (ephemeral X-Wing keygen + encapsulation to the pinned key: the
 * client's most expensive step) without a socket, so that a transport can run it while the
 * WebSocket connects and pass it as `ClientSessionOptions.prepared`.
 */
export function prepareClientHello(opts: {
  server?: { keyId: Uint8Array; publicKey: Uint8Array };
  suites?: SuiteId[];
  kem?: HybridKem;
  random: Env["random"];
}): PreparedClientHello {
  const handshake = new ClientHandshake({
    kem: opts.kem,
    suites: opts.suites,
    server: opts.server,
    random: opts.random,
  });
  return { handshake, clientHello: handshake.start() };
}

/**
 * `prepareClientHello` with a `PreparableClientKem`: the handshake's secrets are drawn from
 * `random` first (in the order `ClientHandshake.start` draws them: client_random, the ephemeral
 * seed, eseed), the KEM prepares keygen + encapsulation asynchronously, then the sync core builds
 * the ClientHello from the same draws (replayed) and the KEM hands back the prepared results.
 * Errors are those of `prepareClientHello` (the handshake is constructed, and so validated, first).
 */
export async function prepareClientHelloAsync(opts: {
  server?: { keyId: Uint8Array; publicKey: Uint8Array };
  suites?: SuiteId[];
  kem: PreparableClientKem;
  random: Env["random"];
}): Promise<PreparedClientHello> {
  const draws: Uint8Array[] = [];
  let next = 0;
  const replay = (n: number): Uint8Array => {
    const d = draws[next];
    if (d && d.length === n) {
      draws[next++] = new Uint8Array(0);
      return d;
    }
    next = draws.length; // out of step: stop replaying
    return opts.random(n);
  };
  const handshake = new ClientHandshake({
    kem: opts.kem,
    suites: opts.suites,
    server: opts.server,
    random: replay,
  });
  try {
    const want = opts.server ? [RANDOM_LEN, XWING_SEED_LEN, XWING_ESEED_LEN] : [RANDOM_LEN, XWING_SEED_LEN];
    for (const n of want) {
      const r = opts.random(n);
      if (!(r instanceof Uint8Array) || r.length !== n) break;
      draws.push(new Uint8Array(r));
    }
    if (draws.length === want.length) {
      await opts.kem.prepareClient({
        seed: draws[1],
        serverPublicKey: opts.server ? opts.server.publicKey : null,
        eseed: opts.server ? draws[2] : null,
      });
    }
  } catch {
    // A failing random source: start() draws again and reports it as prepareClientHello would.
    for (const d of draws) d.fill(0);
    draws.length = 0;
  }
  try {
    return { handshake, clientHello: handshake.start(), kem: opts.kem };
  } catch (e) {
    opts.kem.discard?.();
    throw e;
  } finally {
    for (const d of draws) d.fill(0);
  }
}

export interface ClientSessionOptions {
  socket: Socket;
  /**
   * A ClientHello made by `prepareClientHello` with the same server/suites/kem (sent by
   * `start()` instead of building one then). Used once.
   */
  prepared?: PreparedClientHello;
  env: Env;
  /** The gateway key (pinned mode). Omitted = anonymous mode. */
  server?: { keyId: Uint8Array; publicKey: Uint8Array };
  suites?: SuiteId[];
  kem?: HybridKem;
  /** Default 10,000 ms. */
  handshakeTimeoutMs?: number;
  recordLimits?: Partial<RecordLimits>;
  drain?: SocketDrainOptions;
  /** Streams opened before SESSION_INFO announced max_streams (default 16). */
  initialMaxStreams?: number;
  /** The error pending fetches and bodies fail with when the channel ends. */
  errorFor?: (close: CloseInfo) => Error;
  /** Called once when the channel ended. */
  onClose?: (close: CloseInfo) => void;
  log?: (event: string, fields: Record<string, unknown>) => void;
}

export interface FetchOptions {
  signal?: AbortSignal | null;
  /** Body size in bytes when known; sent as content-length (ignored for bodyless requests). */
  contentLength?: number | null;
}

interface Pending {
  request: Request;
  signal: AbortSignal | null;
  contentLength: number | null;
  resolve: (r: Response) => void;
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
}

const MAX_REFUSED_RETRIES = 5;

function defaultErrorFor(c: CloseInfo): Error {
  return new Error(`pqgate: channel closed with code ${c.code}${c.reason ? ` (${c.reason})` : ""}`);
}

export class ClientSession {
  #state: ClientSessionState = "idle";
  readonly #o: ClientSessionOptions;
  readonly #socket: Socket;
  #hs: ClientHandshake | null;
  readonly #asyncKem: PreparableClientKem | null;
  #held: (Uint8Array | ArrayBuffer | string)[] | null = null;
  #serverHelloPrepared = false;
  #preparedHello: Uint8Array<ArrayBuffer> | null;
  #channel: RecordChannel | null = null;
  #sessionInfo: SessionInfo | null = null;
  #gotFirstRecord = false;
  readonly #streams = new Map<number, ClientStream>();
  readonly #pending: Pending[] = [];
  #nextId = 1;
  #lastRx = 0;
  #startedAt = 0;
  #handshake: HandshakeInfo | null = null;
  #close: CloseInfo | null = null;
  readonly #drain: SocketDrain;
  #readyResolve!: () => void;
  #readyReject!: (e: unknown) => void;
  /** Resolves once the handshake completed (ClientFinished sent); rejects if it failed. */
  readonly ready: Promise<void>;
  #closedResolve!: (c: CloseInfo) => void;
  /** Resolves with the close information when the channel ended. */
  readonly closed: Promise<CloseInfo>;

  constructor(opts: ClientSessionOptions) {
    this.#o = opts;
    this.#socket = opts.socket;
    this.#drain = new SocketDrain(opts.socket, opts.drain);
    this.#hs = opts.prepared?.handshake ?? new ClientHandshake({
      kem: opts.kem,
      suites: opts.suites,
      server: opts.server,
      random: opts.env.random,
    });
    this.#preparedHello = opts.prepared?.clientHello ?? null;
    this.#asyncKem = opts.prepared?.kem ?? null;
    this.ready = new Promise((res, rej) => {
      this.#readyResolve = res;
      this.#readyReject = rej;
    });
    this.ready.catch(() => {});
    this.closed = new Promise((res) => (this.#closedResolve = res));
  }

  get state(): ClientSessionState {
    return this.#state;
  }
  /** Limits announced by the gateway (null until SESSION_INFO arrived). */
  get sessionInfo(): SessionInfo | null {
    return this.#sessionInfo;
  }
  get suite(): SuiteId | null {
    return this.#channel?.layer.suite ?? null;
  }
  /** Hex session id (null before the handshake completed). */
  get sessionId(): string | null {
    return this.#channel ? toHex(this.#channel.layer.sessionId) : null;
  }
  get handshake(): HandshakeInfo | null {
    return this.#handshake;
  }
  get closeInfo(): CloseInfo | null {
    return this.#close;
  }
  /** Open streams plus queued requests. */
  get activeRequests(): number {
    return this.#streams.size + this.#pending.length;
  }
  /** Bytes sitting in this session's own buffers (frames not yet sealed + response queues). */
  get bufferedBytes(): number {
    let n = this.#channel?.buffered ?? 0;
    for (const s of this.#streams.values()) n += s.body?.buffered ?? 0;
    return n;
  }
  get keyUpdates(): { tx: number; rx: number } {
    return { tx: this.#channel?.txUpdates ?? 0, rx: this.#channel?.rxUpdates ?? 0 };
  }

  /**
   * True while new requests should go to this session: not closed and not within a minute
   * (or 10 %) of the gateway's session lifetime.
   */
  get usable(): boolean {
    if (this.#state === "closed") return false;
    if (this.#state !== "established" || !this.#channel) return true;
    const layer = this.#channel.layer;
    const life = layer.expiresAt - layer.createdAt;
    const margin = Math.min(60_000, Math.floor(life / 10));
    let expires = layer.expiresAt;
    if (this.#sessionInfo) {
      expires = Math.min(expires, layer.createdAt + this.#sessionInfo.sessionLifetimeS * 1000);
    }
    return this.#o.env.now() < expires - margin;
  }

  // ---- transport events ------------------------------------------------------------------

  /** Sends the ClientHello. Call once, when the socket is open. */
  start(): void {
    if (this.#state !== "idle") return;
    try {
      this.#startedAt = this.#o.env.now();
      this.#lastRx = this.#startedAt;
      const ch = this.#preparedHello ?? this.#hs!.start();
      this.#preparedHello = null;
      this.#handshake = {
        startedAt: this.#startedAt,
        completedAt: null,
        durationMs: null,
        clientHelloBytes: ch.length,
        serverHelloBytes: 0,
        clientFinishedBytes: 0,
        mode: this.#hs!.mode,
      };
      this.#state = "clientHelloSent";
      this.#socket.send(ch);
    } catch (e) {
      this.#fail(e);
    }
  }

  /**
   * One WebSocket message. Never throws: errors close the channel. Returns a Promise (that
   * never rejects) only while the ServerHello is in the KEM's async `prepareServerHello` step;
   * messages received meanwhile are held and replayed in order after it.
   */
  receive(message: Uint8Array | ArrayBuffer | string): void | Promise<void> {
    if (this.#state === "closed") return;
    if (this.#held) {
      this.#held.push(message);
      return;
    }
    const kem = this.#asyncKem;
    if (
      kem && typeof kem.prepareServerHello === "function" && this.#state === "clientHelloSent" &&
      !this.#serverHelloPrepared && typeof message !== "string"
    ) {
      this.#serverHelloPrepared = true;
      const msg = message instanceof Uint8Array ? message : new Uint8Array(message);
      if (msg[0] === MSG_SERVER_HELLO) return this.#prepareThenReceive(kem, msg);
    }
    this.#receiveNow(message);
  }

  async #prepareThenReceive(kem: PreparableClientKem, msg: Uint8Array): Promise<void> {
    const held: (Uint8Array | ArrayBuffer | string)[] = [];
    this.#held = held;
    this.#lastRx = this.#o.env.now();
    try {
      await kem.prepareServerHello!(msg);
    } catch { /* nothing prepared: the sync core decapsulates */ }
    this.#held = null;
    this.#receiveNow(msg);
    this.#discardKem();
    for (const m of held) this.#receiveNow(m);
  }

  #discardKem(): void {
    try {
      this.#asyncKem?.discard?.();
    } catch { /* best effort */ }
  }

  #receiveNow(message: Uint8Array | ArrayBuffer | string): void {
    if (this.#state === "closed") return;
    try {
      if (typeof message === "string") throw new PqgateError("protocol_error", "text message");
      const msg = message instanceof Uint8Array ? message : new Uint8Array(message);
      this.#lastRx = this.#o.env.now();
      if (this.#state === "idle") throw new PqgateError("protocol_error", "message before ClientHello");
      if (this.#state === "clientHelloSent") {
        if (msg[0] !== MSG_SERVER_HELLO) throw new PqgateError("protocol_error", "expected ServerHello");
        this.#onServerHello(msg);
        return;
      }
      const frames = this.#channel!.open(msg);
      const first = !this.#gotFirstRecord;
      this.#gotFirstRecord = true;
      if (first && frames[0].type !== "session_info") {
        throw new PqgateError("protocol_error", "first record does not start with SESSION_INFO");
      }
      for (const f of frames) {
        this.#onFrame(f);
        if (this.#state !== "established") return;
      }
    } catch (e) {
      this.#fail(e);
    }
  }

  /** The socket closed. */
  onSocketClose(code: number, reason: string): void {
    if (this.#state === "closed") return;
    this.#teardown({
      code,
      reason: String(reason ?? ""),
      byPeer: true,
      phase: this.#state === "established" ? "established" : "handshake",
    });
  }

  nextDeadline(): number | null {
    switch (this.#state) {
      case "closed":
      case "idle":
        return null;
      case "clientHelloSent":
        return this.#startedAt + (this.#o.handshakeTimeoutMs ?? 10_000);
      case "established": {
        const idle = this.#sessionInfo?.idleTimeoutMs;
        // The gateway PINGs at half its idle timeout; silence well past it means it is gone.
        return idle ? this.#lastRx + idle + Math.max(5_000, Math.floor(idle / 2)) : null;
      }
    }
  }

  onTimer(now: number): void {
    const d = this.nextDeadline();
    if (d === null || now < d) return;
    this.#fail(new PqgateError(this.#state === "established" ? "idle_timeout" : "handshake_timeout"));
  }

  /** Closes the channel normally: CLOSE frame, then WebSocket close 1000. */
  close(): void {
    if (this.#state === "closed") return;
    if (this.#state === "established") this.#channel?.close(CLOSE_NORMAL, "");
    this.#teardown({ code: CLOSE_NORMAL, reason: "closed by client", byPeer: false, phase: this.#phase() });
    try {
      this.#socket.close(CLOSE_NORMAL, "");
    } catch { /* already closed */ }
  }

  /**
   * Updates our send keys now (KEY_UPDATE, §5.3); with `askPeer` the gateway is asked to
   * update its direction too. Normally not needed: the soft limits trigger it.
   */
  keyUpdate(askPeer = false): void {
    this.#channel?.requestKeyUpdate(askPeer);
  }

  // ---- fetch -----------------------------------------------------------------------------

  /**
   * Sends `request` through the channel; resolves with the response once its HEADERS arrived.
   * `contentLength`, when the caller knows the body size, is sent as a content-length field
   * (a `Request` cannot carry one itself in browsers).
   */
  fetch(request: Request, opts: FetchOptions = {}): Promise<Response> {
    return new Promise<Response>((resolve, reject) => {
      if (this.#state === "closed") {
        reject(this.#errorFor(this.#close!));
        return;
      }
      const sig = opts.signal ?? null;
      if (sig?.aborted) {
        reject(sig.reason);
        return;
      }
      const p: Pending = {
        request,
        signal: sig,
        contentLength: opts.contentLength ?? null,
        resolve,
        reject,
        retries: 0,
        onAbort: null,
      };
      if (sig) {
        p.onAbort = () => this.#abort(p, sig.reason);
        sig.addEventListener("abort", p.onAbort, { once: true });
      }
      this.#pending.push(p);
      this.#pumpPending();
    });
  }

  #maxStreams(): number {
    return this.#sessionInfo ? this.#sessionInfo.maxStreams : (this.#o.initialMaxStreams ?? 16);
  }

  #pumpPending(): void {
    if (this.#state !== "established") return;
    while (this.#pending.length > 0 && this.#streams.size < this.#maxStreams()) {
      this.#open(this.#pending.shift()!);
    }
  }

  #open(p: Pending): void {
    let head: Uint8Array;
    try {
      const h = requestHeadOf(p.request);
      if (p.contentLength !== null && p.request.body !== null && !h.headers.some(([n]) => n === "content-length")) {
        h.headers.push(["content-length", String(p.contentLength)]);
      }
      head = encodeRequestHead(h);
      if (head.length > MAX_FRAME_PAYLOAD) {
        throw new TypeError(`pqgate: request headers too large (${head.length} > ${MAX_FRAME_PAYLOAD} bytes)`);
      }
    } catch (e) {
      this.#settle(p);
      p.reject(e instanceof BhttpError ? new TypeError(`pqgate: invalid request: ${e.message}`) : e);
      return;
    }
    if (this.#nextId > 0x7fffffff) {
      // Stream ids exhausted: this channel cannot open more; the caller reconnects.
      this.#pending.unshift(p);
      this.#fail(new PqgateError("rehandshake_required", "stream ids exhausted"));
      return;
    }
    const id = this.#nextId;
    this.#nextId += 2;
    const body = p.request.body;
    const s: ClientStream = {
      id,
      p,
      out: new OutgoingBody({
        sendData: (payload, end) => this.#channel?.send({ type: "data", stream: id, endStream: end, payload }),
        drain: this.#drain.wait,
      }),
      localEnded: body === null,
      remoteEnded: false,
      headersReceived: false,
      body: null,
      settled: false,
    };
    this.#streams.set(id, s);
    this.#channel!.send({ type: "headers", stream: id, endStream: body === null, payload: head });
    if (body !== null) {
      s.out.pump(body).then(
        () => {
          s.localEnded = true;
          if (s.remoteEnded) this.#forget(s);
        },
        (e) => {
          if (e instanceof BodyAborted || this.#streams.get(id) !== s) return;
          // The request body failed: the request is void.
          this.#resetStream(s, STREAM_INTERNAL, e);
        },
      );
    }
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
    if (this.#streams.get(s.id) !== s) return;
    this.#forget(s);
    this.#channel?.send({ type: "reset_stream", stream: s.id, errorCode: code });
    s.out.abort(reason);
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

  #settle(p: Pending): void {
    if (p.onAbort && p.signal) p.signal.removeEventListener("abort", p.onAbort);
    p.onAbort = null;
  }

  #forget(s: ClientStream): void {
    if (this.#streams.get(s.id) !== s) return;
    this.#streams.delete(s.id);
    if (!s.body || s.body.done) this.#settle(s.p);
    this.#pumpPending();
  }

  // ---- handshake -------------------------------------------------------------------------

  #onServerHello(msg: Uint8Array): void {
    const { clientFinished, keys } = this.#hs!.receiveServerHello(msg);
    this.#hs = null;
    const now = this.#o.env.now();
    this.#socket.send(clientFinished);
    const layer = new RecordLayer({ role: "client", keys, now, limits: this.#o.recordLimits });
    this.#channel = new RecordChannel({
      layer,
      socket: this.#socket,
      now: () => this.#o.env.now(),
      onError: (e) => this.#fail(e),
    });
    this.#state = "established";
    const h = this.#handshake!;
    h.completedAt = now;
    h.durationMs = now - h.startedAt;
    h.serverHelloBytes = msg.length;
    h.clientFinishedBytes = clientFinished.length;
    this.#log("handshake_complete", { suite: layer.suite, mode: h.mode, ms: h.durationMs });
    this.#readyResolve();
    this.#pumpPending();
    this.#channel.flush();
  }

  // ---- frames ----------------------------------------------------------------------------

  #onFrame(f: Frame): void {
    switch (f.type) {
      case "padding":
      case "key_update":
      case "pong":
        return;
      case "ping":
        this.#channel!.send({ type: "pong", data: f.data });
        return;
      case "session_info":
        if (this.#sessionInfo) throw new PqgateError("protocol_error", "second SESSION_INFO");
        this.#sessionInfo = f.info;
        this.#pumpPending();
        return;
      case "close": {
        const info: CloseInfo = { code: f.code, reason: f.reason, byPeer: true, phase: "established" };
        this.#teardown(info);
        try {
          this.#socket.close(CLOSE_NORMAL, "");
        } catch { /* already closed */ }
        return;
      }
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
        s.out.abort(new StreamResetError(f.errorCode));
        if (!s.settled && f.errorCode === STREAM_REFUSED && s.p.request.body === null &&
          s.p.retries < MAX_REFUSED_RETRIES) {
          // Not processed (§6.5): retry when a stream slot is free.
          s.p.retries++;
          this.#pending.unshift(s.p);
          this.#pumpPending();
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

  #lookup(id: number): ClientStream | null {
    const s = this.#streams.get(id);
    if (s) return s;
    if (id < this.#nextId) return null; // late frame for a stream we forgot
    throw new PqgateError("protocol_error", "frame for a stream never opened");
  }

  #onHeaders(id: number, endStream: boolean, payload: Uint8Array): void {
    const s = this.#lookup(id);
    if (!s) return;
    if (s.headersReceived) throw new PqgateError("protocol_error", "second HEADERS on a stream");
    s.headersReceived = true;
    s.remoteEnded = endStream;
    let response: Response;
    let nullBody = false;
    try {
      const head = decodeResponseHead(payload, { maxBytes: MAX_FRAME_PAYLOAD });
      if (!endStream) {
        s.body = new IncomingBody({
          grant: (n) => this.#channel?.send({ type: "window_update", stream: id, increment: n }),
          onCancel: (reason) => {
            if (this.#streams.get(id) === s && !s.remoteEnded) this.#resetStream(s, STREAM_CANCEL, reason);
          },
        });
      }
      nullBody = isNullBodyStatus(head.status) || s.p.request.method === "HEAD";
      response = responseOf(head, nullBody ? null : s.body?.stream ?? null, s.p.request.url);
    } catch (e) {
      const err = e instanceof BhttpError ? new TypeError(`pqgate: invalid response from gateway: ${e.message}`) : e;
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
    s.p.resolve(response);
  }

  // ---- closing ---------------------------------------------------------------------------

  #phase(): "handshake" | "established" {
    return this.#state === "established" ? "established" : "handshake";
  }

  #errorFor(c: CloseInfo): Error {
    return (this.#o.errorFor ?? defaultErrorFor)(c);
  }

  #fail(e: unknown): void {
    if (this.#state === "closed") return;
    const code: ErrorCode = e instanceof PqgateError ? e.code : "internal_error";
    const closeCode = closeCodeFor(code);
    const reason = CLOSE_REASONS[code];
    this.#log("session_error", { code, detail: e instanceof PqgateError ? e.message : (e as Error)?.name });
    const phase = this.#phase();
    if (phase === "established") this.#channel?.close(closeCode, reason);
    this.#teardown({ code: closeCode, reason, byPeer: false, phase });
    try {
      this.#socket.close(closeCode, reason);
    } catch { /* already closed */ }
  }

  #teardown(info: CloseInfo): void {
    if (this.#state === "closed") return;
    const wasHandshake = this.#state !== "established";
    this.#state = "closed";
    this.#close = info;
    this.#hs?.close();
    this.#hs = null;
    this.#held = null;
    this.#discardKem();
    this.#channel?.stop();
    this.#drain.stop();
    const err = this.#errorFor(info);
    for (const s of [...this.#streams.values()]) {
      s.out.abort(err);
      this.#failStream(s, err);
      this.#settle(s.p);
    }
    this.#streams.clear();
    for (const p of this.#pending.splice(0)) {
      this.#settle(p);
      p.reject(err);
    }
    if (wasHandshake) this.#readyReject(err);
    this.#log("closed", { code: info.code, byPeer: info.byPeer, phase: info.phase });
    this.#closedResolve(info);
    try {
      this.#o.onClose?.(info);
    } catch { /* callback errors are not ours */ }
  }

  #log(event: string, fields: Record<string, unknown>): void {
    try {
      this.#o.log?.(event, fields);
    } catch { /* never breaks the session */ }
  }
}
