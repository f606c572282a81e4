/**
 * The client side of one pqgate/1 channel over one socket: runs the handshake (§3, §7), then
 * multiplexes `fetch` calls as streams with odd ids (§6.2). Requests made before the handshake
 * completed are queued and go out right after ClientFinished (1 RTT to the first request).
 *
 * Transport contract (same as the gateway's ServerSession): `start()` once the socket is open,
 * `receive(message)` for each WebSocket message, `onSocketClose` when it closed, and a timer
 * for `nextDeadline()` calling `onTimer(now)` (see timer-driver.ts).
 *
 * Jobs kept elsewhere: the ClientHello built ahead of the socket (client-hello.ts), requests as
 * streams (client-streams.ts), messages held during the KEM's async step (message-hold.ts),
 * deadlines (liveness.ts), close codes (session-close.ts).
 */
import { CLOSE_NORMAL, PqgateError } from "../protocol/errors.ts";
import { toHex } from "../protocol/bytes.ts";
import { MSG_SERVER_HELLO, type SuiteId } from "../protocol/constants.ts";
import type { Frame, SessionInfo } from "../protocol/frames.ts";
import { authBinding, type AuthPayload, type AuthResultPayload } from "../protocol/client-auth.ts";
import type { ClientHandshakeOptions } from "../protocol/handshake-client.ts";
import type { ClientHandshake } from "../protocol/handshake-client.ts";
import { RecordLayer, type RecordLimits } from "../protocol/record-layer.ts";
import type { HybridKem } from "../protocol/types.ts";
import {
  newClientHandshake,
  type PreparableClientKem,
  type PreparedClientHello,
} from "./client-hello.ts";
import {
  ClientStreams,
  type FetchOptions,
  type OpenedStream,
  type OpenOptions,
} from "./client-streams.ts";
import type { RequestHead } from "./bhttp.ts";
import { handshakeDeadline, silenceDeadline } from "./liveness.ts";
import { binaryMessage, discardPrepared, MessageHold, type WireMessage } from "./message-hold.ts";
import { RecordChannel } from "./record-channel.ts";
import { closeFor, closeSocket, logSafely } from "./session-close.ts";
import { SocketDrain, type SocketDrainOptions } from "./socket-drain.ts";
import type { Env, Socket } from "./types.ts";

export {
  type ClientHelloOptions,
  type PreparableClientKem,
  prepareClientHello,
  prepareClientHelloAsync,
  type PreparedClientHello,
} from "./client-hello.ts";
export {
  type FetchOptions,
  type OpenedStream,
  type OpenOptions,
  StreamResetError,
} from "./client-streams.ts";

export type ClientSessionState = "idle" | "clientHelloSent" | "established" | "closed";

/** Credentials sent in an AUTH frame (PROTOCOL.md §6.7); the binding is the session's. */
export type AuthCredentials =
  | { method: "password"; username: string; password: Uint8Array }
  | { method: "token"; token: string };

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
  /**
   * What the ClientHello announces (PROTOCOL.md §3.4.1 psk, §3.4.2 client_auth). With a
   * `method`, `credentials` of that method must be given: their AUTH frame is the first frame of
   * the first record, ahead of any request (no extra round trip).
   */
  auth?: ClientHandshakeOptions["auth"];
  credentials?: AuthCredentials;
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

function defaultErrorFor(c: CloseInfo): Error {
  return new Error(`pqgate: channel closed with code ${c.code}${c.reason ? ` (${c.reason})` : ""}`);
}

export class ClientSession {
  #state: ClientSessionState = "idle";
  readonly #o: ClientSessionOptions;
  readonly #socket: Socket;
  #hs: ClientHandshake | null;
  readonly #asyncKem: PreparableClientKem | null;
  readonly #hold: MessageHold;
  #preparedHello: Uint8Array<ArrayBuffer> | null;
  #channel: RecordChannel | null = null;
  #sessionInfo: SessionInfo | null = null;
  #gotFirstRecord = false;
  readonly #streams: ClientStreams;
  #lastRx = 0;
  #startedAt = 0;
  #handshake: HandshakeInfo | null = null;
  #close: CloseInfo | null = null;
  readonly #drain: SocketDrain;
  /** The outstanding AUTH's waiter (at most one, PROTOCOL.md §6.7). */
  #authWaiter: { resolve: (r: AuthResultPayload) => void; reject: (e: unknown) => void } | null =
    null;
  #firstAuth: Promise<AuthResultPayload> | null = null;
  #readyResolve!: () => void;
  #readyReject!: (e: unknown) => void;
  /** Resolves once the handshake completed (ClientFinished sent); rejects if it failed. */
  readonly ready: Promise<void>;
  #infoResolve!: (info: SessionInfo) => void;
  #infoReject!: (e: unknown) => void;
  /**
   * Resolves with SESSION_INFO when it arrived (the gateway's first record, after the
   * handshake); rejects with the close error if the channel ends first.
   */
  readonly sessionInfoReady: Promise<SessionInfo>;
  #closedResolve!: (c: CloseInfo) => void;
  /** Resolves with the close information when the channel ended. */
  readonly closed: Promise<CloseInfo>;

  constructor(opts: ClientSessionOptions) {
    this.#o = opts;
    this.#socket = opts.socket;
    this.#drain = new SocketDrain(opts.socket, opts.drain);
    this.#hs = opts.prepared?.handshake ?? newClientHandshake({ ...opts, random: opts.env.random });
    this.#preparedHello = opts.prepared?.clientHello ?? null;
    this.#asyncKem = opts.prepared?.kem ?? null;
    this.#hold = new MessageHold({
      receiveNow: (m) => this.#receiveNow(m),
      onStart: () => (this.#lastRx = this.#o.env.now()),
      discard: () => discardPrepared(this.#asyncKem),
    });
    this.#streams = new ClientStreams({
      send: (frame) => this.#channel?.send(frame),
      drain: this.#drain.wait,
      established: () => this.#state === "established",
      maxStreams: () =>
        this.#sessionInfo ? this.#sessionInfo.maxStreams : (opts.initialMaxStreams ?? 16),
      closedError: () => this.#state === "closed" ? this.#errorFor(this.#close!) : null,
      fail: (e) => this.#fail(e),
    });
    this.ready = new Promise((res, rej) => {
      this.#readyResolve = res;
      this.#readyReject = rej;
    });
    this.ready.catch(() => {});
    this.sessionInfoReady = new Promise((res, rej) => {
      this.#infoResolve = res;
      this.#infoReject = rej;
    });
    this.sessionInfoReady.catch(() => {});
    this.closed = new Promise((res) => (this.#closedResolve = res));
    const cred = opts.credentials;
    const announced = opts.auth && "method" in opts.auth ? opts.auth.method : null;
    if ((cred !== undefined && cred.method !== announced) || (announced && !cred)) {
      throw new PqgateError("internal_error", "credentials must match the announced method");
    }
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
    return this.#streams.active;
  }
  /** Bytes sitting in this session's own buffers (frames not yet sealed + response queues). */
  get bufferedBytes(): number {
    return (this.#channel?.buffered ?? 0) + this.#streams.bufferedBytes;
  }
  get keyUpdates(): { tx: number; rx: number } {
    return { tx: this.#channel?.txUpdates ?? 0, rx: this.#channel?.rxUpdates ?? 0 };
  }

  /**
   * The result of the AUTH sent with the first record (null without `credentials`). Rejects
   * with the close error if the channel ends first.
   */
  get authResult(): Promise<AuthResultPayload> | null {
    return this.#firstAuth;
  }

  /**
   * Sends another AUTH (a refresh, e.g. a new token) on this channel; resolves with its
   * AUTH_RESULT. Only after the previous one was answered (PROTOCOL.md §6.7: one outstanding);
   * the method must be the announced one. The gateway charges refreshes to its control-frame
   * budget.
   */
  authenticate(cred: AuthCredentials): Promise<AuthResultPayload> {
    if (this.#state !== "established" || !this.#channel) {
      return Promise.reject(
        this.#state === "closed"
          ? this.#errorFor(this.#close!)
          : new Error("pqgate: authenticate before the handshake completed"),
      );
    }
    if (this.#authWaiter) return Promise.reject(new Error("pqgate: an AUTH is outstanding"));
    const announced = this.#o.auth && "method" in this.#o.auth ? this.#o.auth.method : null;
    if (cred.method !== announced) {
      return Promise.reject(new Error(`pqgate: this channel announced ${announced ?? "no"} AUTH`));
    }
    return this.#sendAuth(cred);
  }

  #sendAuth(cred: AuthCredentials): Promise<AuthResultPayload> {
    const binding = authBinding(this.#channel!.layer.exporterSecret, cred.method);
    const auth: AuthPayload = cred.method === "password"
      ? { method: "password", binding, username: cred.username, password: cred.password }
      : { method: "token", binding, token: cred.token };
    const p = new Promise<AuthResultPayload>((resolve, reject) => {
      this.#authWaiter = { resolve, reject };
    });
    p.catch(() => {});
    this.#channel!.send({ type: "auth", auth });
    return p;
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

  /**
   * Sends the ClientHello. Call once, when the socket is open. With `helloSent` the prepared
   * ClientHello already went in the upgrade URL and the gateway took it (it selected
   * `pqgate.hello`, PROTOCOL.md §1): nothing is sent, the session waits for the ServerHello.
   */
  start(opts: { helloSent?: boolean } = {}): void {
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
      if (!opts.helloSent) this.#socket.send(ch);
    } catch (e) {
      this.#fail(e);
    }
  }

  /**
   * One WebSocket message. Never throws: errors close the channel. Returns a Promise (that
   * never rejects) only while the ServerHello is in the KEM's async `prepareServerHello` step;
   * messages received meanwhile are held and replayed in order after it.
   */
  receive(message: WireMessage): void | Promise<void> {
    if (this.#state === "closed") return;
    const kem = this.#asyncKem;
    const async = kem && typeof kem.prepareServerHello === "function" &&
      this.#state === "clientHelloSent";
    const step = async
      ? { type: MSG_SERVER_HELLO, prepare: (m: Uint8Array) => kem.prepareServerHello!(m) }
      : null;
    return this.#hold.receive(message, step);
  }

  #receiveNow(message: WireMessage): void {
    if (this.#state === "closed") return;
    try {
      const msg = binaryMessage(message);
      this.#lastRx = this.#o.env.now();
      if (this.#state === "idle") {
        throw new PqgateError("protocol_error", "message before ClientHello");
      }
      if (this.#state === "clientHelloSent") {
        if (msg[0] !== MSG_SERVER_HELLO) {
          throw new PqgateError("protocol_error", "expected ServerHello");
        }
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
        return handshakeDeadline(this.#startedAt, this.#o.handshakeTimeoutMs ?? 10_000);
      case "established":
        return silenceDeadline(this.#lastRx, this.#sessionInfo?.idleTimeoutMs);
    }
  }

  onTimer(now: number): void {
    const d = this.nextDeadline();
    if (d === null || now < d) return;
    this.#fail(
      new PqgateError(this.#state === "established" ? "idle_timeout" : "handshake_timeout"),
    );
  }

  /** Closes the channel normally: CLOSE frame, then WebSocket close 1000. */
  close(): void {
    if (this.#state === "closed") return;
    if (this.#state === "established") this.#channel?.close(CLOSE_NORMAL, "");
    this.#teardown({
      code: CLOSE_NORMAL,
      reason: "closed by client",
      byPeer: false,
      phase: this.#phase(),
    });
    closeSocket(this.#socket, CLOSE_NORMAL, "");
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
    return this.#streams.fetch(request, opts);
  }

  /**
   * Opens a stream from a request head, without a `Request` (the CONNECT of a WebSocket stream,
   * PROTOCOL.md §6.9); resolves once the response HEADERS arrived (client-streams.ts `open`).
   */
  openStream(
    head: RequestHead,
    body: ReadableStream<Uint8Array> | null,
    opts: OpenOptions = {},
  ): Promise<OpenedStream> {
    return this.#streams.open(head, body, opts);
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
    // The AUTH first, so it is the first frame of the first record (PROTOCOL.md §6.7).
    if (this.#o.credentials) this.#firstAuth = this.#sendAuth(this.#o.credentials);
    this.#readyResolve();
    this.#streams.pump();
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
        this.#infoResolve(f.info);
        this.#streams.pump();
        return;
      case "auth_result": {
        const w = this.#authWaiter;
        if (!w) throw new PqgateError("protocol_error", "AUTH_RESULT without an AUTH");
        this.#authWaiter = null;
        this.#log("auth_result", { status: f.result.status, retryAfterMs: f.result.retryAfterMs });
        w.resolve(f.result);
        return;
      }
      case "auth":
        throw new PqgateError("protocol_error", "AUTH from the gateway");
      case "close": {
        const info: CloseInfo = {
          code: f.code,
          reason: f.reason,
          byPeer: true,
          phase: "established",
        };
        this.#teardown(info);
        closeSocket(this.#socket, CLOSE_NORMAL, "");
        return;
      }
      case "headers":
      case "data":
      case "reset_stream":
      case "window_update":
        this.#streams.onFrame(f);
        return;
    }
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
    const { code, closeCode, reason } = closeFor(e);
    this.#log("session_error", {
      code,
      detail: e instanceof PqgateError ? e.message : (e as Error)?.name,
    });
    const phase = this.#phase();
    if (phase === "established") this.#channel?.close(closeCode, reason);
    this.#teardown({ code: closeCode, reason, byPeer: false, phase });
    closeSocket(this.#socket, closeCode, reason);
  }

  #teardown(info: CloseInfo): void {
    if (this.#state === "closed") return;
    const wasHandshake = this.#state !== "established";
    this.#state = "closed";
    this.#close = info;
    this.#hs?.close();
    this.#hs = null;
    this.#hold.clear();
    discardPrepared(this.#asyncKem);
    this.#channel?.stop();
    this.#drain.stop();
    const err = this.#errorFor(info);
    this.#streams.failAll(err);
    this.#authWaiter?.reject(err);
    this.#authWaiter = null;
    if (wasHandshake) this.#readyReject(err);
    this.#infoReject(err);
    this.#log("closed", { code: info.code, byPeer: info.byPeer, phase: info.phase });
    this.#closedResolve(info);
    try {
      this.#o.onClose?.(info);
    } catch { /* callback errors are not ours */ }
  }

  #log(event: string, fields: Record<string, unknown>): void {
    logSafely(this.#o.log, event, fields);
  }
}
