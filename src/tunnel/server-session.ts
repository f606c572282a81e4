/**
 * The gateway side of one pqgate/1 channel: handshake (§3, §7), records (§5), frames and
 * streams (§6), mapped onto the gateway's `RequestHandler` as standard `Request`/`Response`.
 *
 * Transport contract:
 * - call `receive(message)` for every WebSocket message, in order, and `onSocketClose` when
 *   the socket closed;
 * - the session never starts timers for its deadlines: after constructing it and after every
 *   `receive()` / `onTimer()` call, (re)arm a timer or alarm for `nextDeadline()` and call
 *   `onTimer(now)` when it fires (deadlines only move later, except right after construction);
 * - with `persist` set, every snapshot handed to it must be durable before the call returns
 *   (e.g. `ws.serializeAttachment`); a restored session comes from `ServerSession.resume`.
 *
 * Every protocol error closes the channel exactly once: an authenticated CLOSE frame (when
 * records are up) followed by the WebSocket close with the code of errors.ts `closeCodeFor`.
 * Per-request problems are HTTP responses on the stream (400, 413, 431, 500) or a
 * RESET_STREAM, never a close.
 *
 * Flood control: every frame that carries no request data takes a token from a per-channel bucket
 * (`limits.maxControlFramesPerSecond`, `limits.controlFrameBurst`, clock = `env.now()`): PING,
 * PONG (except answers to the gateway's flow probes), PADDING, KEY_UPDATE asking for an update
 * (one without costs an epoch, of which a channel has 255), RESET_STREAM,
 * WINDOW_UPDATE on stream 0 or a forgotten stream, a second WINDOW_UPDATE for one stream in one
 * record (the first is free), late frames on forgotten streams, streams refused past
 * max_streams. An empty bucket closes the channel with 4009 `rate_limited`.
 *
 * Output bounds (src/tunnel/output-budget.ts): everything queued toward the socket counts, of
 * every frame type. Response HEADERS and DATA wait while the channel's output is over its
 * marks, a stream keeps its `max_streams` slot until the gate let its last frame go, the
 * transport stops reading while the gateway's own queue is over its mark, PONGs are dropped
 * while congested, and a client that makes the gateway hold more than twice
 * `limits.maxUnackedBytes` (frames that never wait, sent while it reads nothing) is closed with
 * 4013 `limit_exceeded`.
 */
import { CLOSE_GOING_AWAY, CLOSE_NORMAL, CLOSE_REASONS, closeCodeFor, type ErrorCode, PqgateError } from "../protocol/errors.ts";
import { type Bytes, toHex } from "../protocol/bytes.ts";
import {
  MAX_RECORD_LEN,
  MSG_CLIENT_FINISHED,
  MSG_CLIENT_HELLO,
  PING_LEN,
  type SuiteId,
} from "../protocol/constants.ts";
import {
  type Frame,
  MAX_FRAME_PAYLOAD,
  STREAM_CANCEL,
  STREAM_INTERNAL,
  STREAM_REFUSED,
  STREAM_TOO_LARGE,
} from "../protocol/frames.ts";
import { ServerHandshake } from "../protocol/handshake-server.ts";
import { type RecordLimits, RecordLayer } from "../protocol/record-layer.ts";
import type { Aead, HybridKem } from "../protocol/types.ts";
import { BhttpError, decodeRequestHead, encodeResponseHead } from "./bhttp.ts";
import { RequestMappingError, requestOf, responseHeadOf } from "./http-mapping.ts";
import { IncomingBody } from "./incoming-body.ts";
import { BodyAborted, OutgoingBody } from "./outgoing-body.ts";
import { RecordChannel } from "./record-channel.ts";
import { decodeSessionSnapshot, encodeSessionSnapshot } from "./session-snapshot.ts";
import { DEFAULT_MAX_WINDOW_BYTES, OutputBudget } from "./output-budget.ts";
import { sessionError, type SessionErrorCode } from "./error-response.ts";
import { DEFAULT_CONTROL_FRAME_BURST, DEFAULT_CONTROL_FRAMES_PER_SECOND, TokenBucket } from "./rate-limit.ts";
import type { ChannelInfo, Env, RequestHandler, SessionLimits, Socket, StaticKey } from "./types.ts";

export type ServerSessionState = "start" | "serverHelloSent" | "established" | "closed";

export interface ServerSessionOptions {
  socket: Socket;
  keys: StaticKey[];
  suites?: SuiteId[];
  allowAnonymous?: boolean;
  env: Env;
  limits: SessionLimits;
  handler: RequestHandler;
  clientAddress?: string | null;
  /** Structured events; fields never carry secrets. */
  log?: (event: string, fields: Record<string, unknown>) => void;
  /**
   * Hibernation: called synchronously with the session snapshot after the handshake, before
   * any record that uses newly reserved sequence numbers, after each received record (so a
   * restore keeps the replay high-water mark) and after KeyUpdates.
   */
  persist?: (snapshot: Uint8Array) => void;
  /** Sequence numbers reserved per persisted snapshot (default 256). */
  reserveBlock?: number;
  /**
   * Hybrid KEM backend (default noble X-Wing). When it has `prepareServer` (a per-connection
   * `PreparedXWing` from src/crypto), the ClientHello first goes through that async hop (native
   * ML-KEM), then through the sync core; `receive` returns a Promise for that message.
   */
  kem?: HybridKem & { prepareServer?(clientHello: Uint8Array): Promise<void> };
  /** AEAD per suite for the record layer (default: the core's noble AEADs). */
  aead?: (suite: SuiteId) => Aead;
  /** Record-layer key-usage limits (tests lower the soft limits). */
  recordLimits?: Partial<RecordLimits>;
  /**
   * Tests: the output budget's poll interval and low-water mark (the marks themselves are
   * `limits.maxBufferedBytes` / `limits.maxUnackedBytes`).
   */
  drain?: { pollMs?: number; lowWater?: number };
}

/** Messages held while a ClientHello is in the async KEM hop; more → 4011 (a client sends none). */
const MAX_HELD_MESSAGES = 4;

export type ResumeOptions = Omit<ServerSessionOptions, "keys" | "suites" | "allowAnonymous" | "kem"> & {
  keys?: StaticKey[];
};

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
  abort: AbortController;
}

export class ServerSession {
  #state: ServerSessionState = "start";
  readonly #o: ServerSessionOptions;
  readonly #socket: Socket;
  #hs: ServerHandshake | null = null;
  #channel: RecordChannel | null = null;
  #info: ChannelInfo | null = null;
  #keyId: Bytes | null = null;
  readonly #streams = new Map<number, ServerStream>();
  #highest = 0;
  readonly #createdAt: number;
  #lastRx: number;
  #pingOutstanding = false;
  /** When the idle PING went out (meaningful while #pingOutstanding); persisted with it. */
  #pingSentAt = 0;
  /** A stream was forgotten since the last persist: the snapshot's open-stream list is stale. */
  #streamsDirty = false;
  /** Output accounting (created with the record channel). */
  #budget: OutputBudget | null = null;
  /** Streams that got their free WINDOW_UPDATE in the record being processed. */
  readonly #windowUpdated = new Set<number>();
  #closeCode: number | null = null;
  /** While the ClientHello is in the async KEM hop: later messages, replayed in order. */
  #held: (Uint8Array | ArrayBuffer | string)[] | null = null;
  #prepared = false;
  /** Control-frame budget (created when the channel is established). */
  #bucket: TokenBucket | null = null;
  #pongsDropped = 0;

  constructor(opts: ServerSessionOptions) {
    this.#o = opts;
    this.#socket = opts.socket;
    this.#createdAt = opts.env.now();
    this.#lastRx = this.#createdAt;
    this.#hs = new ServerHandshake({
      keys: opts.keys,
      suites: opts.suites,
      allowAnonymous: opts.allowAnonymous,
      random: opts.env.random,
      kem: opts.kem,
    });
  }

  /**
   * Restores an established session from a snapshot given to `persist` (after a Durable
   * Object woke up). Streams that were open are lost: they are reset (INTERNAL) so the client
   * fails them instead of waiting. A malformed snapshot → PqgateError("internal_error").
   */
  static resume(snapshot: Uint8Array, opts: ResumeOptions): ServerSession {
    const snap = decodeSessionSnapshot(snapshot);
    const layer = RecordLayer.restore(snap.record, {
      aead: opts.aead,
      limits: { sessionLifetimeMs: opts.limits.sessionLifetimeMs, ...opts.recordLimits },
    });
    if (layer.role !== "server") throw new PqgateError("internal_error", "snapshot is not a gateway session");
    const s = new ServerSession({ ...opts, keys: opts.keys ?? [] });
    s.#hs?.close();
    s.#hs = null;
    s.#keyId = snap.keyId;
    s.#highest = snap.highestStreamId;
    s.#establish(layer, false);
    // The idle clock continues across the wake (SESSION_INFO idle_timeout_ms is a promise about
    // the channel, not about one instance): a wake never restarts it. A saved time ahead of
    // this clock (another machine) is clamped to now, so it can never extend the deadline. A
    // version-1 snapshot has no idle clock: it starts at this wake, once.
    const now = opts.env.now();
    if (snap.idle) {
      s.#lastRx = Math.min(snap.idle.lastRxAt, now);
      s.#pingOutstanding = snap.idle.pingSentAt !== null;
      s.#pingSentAt = Math.min(snap.idle.pingSentAt ?? 0, now);
    }
    for (const id of snap.openStreams) {
      s.#channel!.send({ type: "reset_stream", stream: id, errorCode: STREAM_INTERNAL });
    }
    s.#log("session_resumed", {
      lostStreams: snap.openStreams.length,
      idleMs: now - s.#lastRx,
      pingOutstanding: s.#pingOutstanding,
    });
    // Persist now so that the lost streams are not reset a second time after another restore.
    s.#persistState();
    return s;
  }

  get state(): ServerSessionState {
    return this.#state;
  }
  /** What the handler sees about this channel (null before the handshake completed). */
  get channelInfo(): ChannelInfo | null {
    return this.#info;
  }
  /** Number of open streams. */
  get openStreams(): number {
    return this.#streams.size;
  }
  /** The close code once closed (local or remote), else null. */
  get closeCode(): number | null {
    return this.#closeCode;
  }
  /**
   * Bytes sitting in this session's own buffers and the socket's: frames not yet sealed, the
   * socket's unsent bytes, request-body queues.
   */
  get bufferedBytes(): number {
    let n = this.#budget?.local ?? 0;
    for (const s of this.#streams.values()) n += s.body?.buffered ?? 0;
    return n;
  }
  /** Output accounting, for tests and metrics: local bytes, unacknowledged bytes, probes. */
  get output(): { local: number; outstanding: number; probes: number } {
    const b = this.#budget;
    return { local: b?.local ?? 0, outstanding: b?.outstanding ?? 0, probes: b?.probes ?? 0 };
  }
  /** KeyUpdates done (tx, rx): for tests and metrics. */
  get keyUpdates(): { tx: number; rx: number } {
    return { tx: this.#channel?.txUpdates ?? 0, rx: this.#channel?.rxUpdates ?? 0 };
  }

  // ---- transport events ------------------------------------------------------------------

  /**
   * One WebSocket message. Never throws: every error becomes a close. Returns a Promise (that
   * never rejects) only while a ClientHello is in the KEM's async `prepareServer` hop; messages
   * received meanwhile are held and replayed in order after it, so a transport may ignore it.
   */
  receive(message: Uint8Array | ArrayBuffer | string): void | Promise<void> {
    if (this.#state === "closed") return;
    if (this.#held) {
      if (this.#held.length >= MAX_HELD_MESSAGES) {
        this.#fail(new PqgateError("protocol_error", "messages before the ServerHello"));
        return;
      }
      this.#held.push(message);
      return;
    }
    const kem = this.#o.kem;
    if (
      this.#state === "start" && !this.#prepared && typeof kem?.prepareServer === "function" &&
      typeof message !== "string"
    ) {
      this.#prepared = true;
      const msg = message instanceof Uint8Array ? message : new Uint8Array(message);
      if (msg[0] === MSG_CLIENT_HELLO) return this.#prepareThenReceive(kem.prepareServer, msg);
    }
    this.#receiveNow(message);
  }

  async #prepareThenReceive(
    prepare: (clientHello: Uint8Array) => Promise<void>,
    msg: Uint8Array,
  ): Promise<void> {
    const held: (Uint8Array | ArrayBuffer | string)[] = [];
    this.#held = held;
    this.#lastRx = this.#o.env.now();
    try {
      await prepare.call(this.#o.kem, msg);
    } catch { /* nothing prepared: the sync core computes everything */ }
    this.#held = null;
    this.#receiveNow(msg);
    // Wipe whatever was prepared and not consumed (a failed or timed-out handshake).
    try {
      (this.#o.kem as { discard?: () => void } | undefined)?.discard?.();
    } catch { /* best effort */ }
    for (const m of held) this.#receiveNow(m);
  }

  #receiveNow(message: Uint8Array | ArrayBuffer | string): void {
    if (this.#state === "closed") return;
    try {
      if (typeof message === "string") throw new PqgateError("protocol_error", "text message");
      const msg = message instanceof Uint8Array ? message : new Uint8Array(message);
      this.#lastRx = this.#o.env.now();
      this.#pingOutstanding = false;
      switch (this.#state) {
        case "start": {
          if (msg[0] !== MSG_CLIENT_HELLO) throw new PqgateError("protocol_error", "expected ClientHello");
          const sh = this.#hs!.receiveClientHello(msg);
          this.#state = "serverHelloSent";
          this.#socket.send(sh);
          // From now on the client may send records (PROTOCOL.md §1): one record at most.
          this.#socket.setMaxMessageSize?.(MAX_RECORD_LEN);
          break;
        }
        case "serverHelloSent": {
          if (msg[0] !== MSG_CLIENT_FINISHED) throw new PqgateError("protocol_error", "expected ClientFinished");
          const hs = this.#hs!;
          const keys = hs.receiveClientFinished(msg);
          this.#keyId = hs.keyId;
          this.#hs = null;
          const layer = new RecordLayer({
            role: "server",
            keys,
            now: this.#o.env.now(),
            aead: this.#o.aead,
            limits: { sessionLifetimeMs: this.#o.limits.sessionLifetimeMs, ...this.#o.recordLimits },
            reservation: !!this.#o.persist,
          });
          this.#establish(layer, true);
          this.#persistState();
          this.#log("handshake_complete", {
            suite: layer.suite,
            mode: this.#keyId ? "pinned" : "anonymous",
            keyId: this.#info!.keyId,
            sessionId: this.#info!.sessionId,
            ms: this.#o.env.now() - this.#createdAt,
          });
          break;
        }
        case "established": {
          const frames = this.#channel!.open(msg);
          this.#windowUpdated.clear();
          for (const f of frames) {
            this.#onFrame(f);
            if (this.#state !== "established") return;
          }
          if (this.#budget!.overHardLimit()) {
            throw new PqgateError("limit_exceeded", "client is not reading (unacknowledged output)");
          }
          this.#persistState();
          break;
        }
      }
    } catch (e) {
      this.#fail(e);
    }
  }

  /** The WebSocket closed (by the peer or the platform). */
  onSocketClose(code: number, reason: string): void {
    if (this.#state === "closed") return;
    this.#log("socket_closed", { code, reason: String(reason).slice(0, 123) });
    this.#teardown(code, new PqgateError("internal_error", "channel closed"));
  }

  /** The next time (ms, `env.now()` clock) `onTimer` must run, or null when none. */
  nextDeadline(): number | null {
    const l = this.#o.limits;
    switch (this.#state) {
      case "closed":
        return null;
      case "start":
      case "serverHelloSent":
        return this.#createdAt + l.handshakeTimeoutMs;
      case "established": {
        let d = this.#lastRx + l.idleTimeoutMs;
        if (!this.#pingOutstanding) d = Math.min(d, this.#lastRx + Math.floor(l.idleTimeoutMs / 2));
        return Math.min(d, this.#channel!.layer.expiresAt);
      }
    }
  }

  /** Runs whatever is due at `now`: handshake timeout, idle PING / timeout, session lifetime. */
  onTimer(now: number): void {
    if (this.#state === "closed") return;
    try {
      const l = this.#o.limits;
      if (this.#state !== "established") {
        if (now >= this.#createdAt + l.handshakeTimeoutMs) throw new PqgateError("handshake_timeout");
        return;
      }
      if (now >= this.#channel!.layer.expiresAt) throw new PqgateError("rehandshake_required", "session lifetime");
      if (now >= this.#lastRx + l.idleTimeoutMs) throw new PqgateError("idle_timeout");
      if (!this.#pingOutstanding && now >= this.#lastRx + Math.floor(l.idleTimeoutMs / 2)) {
        this.#pingOutstanding = true;
        this.#pingSentAt = now;
        this.#channel!.send({ type: "ping", data: this.#o.env.random(PING_LEN).slice(0, PING_LEN) });
        this.#persistState(); // a wake must not send a second idle PING (session-snapshot.ts)
      }
    } catch (e) {
      this.#fail(e);
    }
  }

  /** Graceful shutdown: CLOSE frame (1001) then WebSocket close 1001 "going away". */
  shutdown(): void {
    if (this.#state === "closed") return;
    this.#channel?.close(CLOSE_GOING_AWAY, "going away");
    this.#teardown(CLOSE_GOING_AWAY, new PqgateError("internal_error", "gateway shutting down"));
    this.#closeSocket(CLOSE_GOING_AWAY, "going away");
  }

  // ---- establishment ---------------------------------------------------------------------

  #establish(layer: RecordLayer, sendInfo: boolean): void {
    const o = this.#o;
    this.#bucket = new TokenBucket(
      o.limits.maxControlFramesPerSecond ?? DEFAULT_CONTROL_FRAMES_PER_SECOND,
      o.limits.controlFrameBurst ?? DEFAULT_CONTROL_FRAME_BURST,
      o.env.now(),
    );
    const socket = this.#socket;
    const counted: Socket = {
      send: (bytes) => {
        socket.send(bytes);
        this.#budget?.afterSend();
      },
      close: (code, reason) => socket.close(code, reason),
    };
    this.#channel = new RecordChannel({
      layer,
      socket: counted,
      now: () => o.env.now(),
      persist: o.persist ? (rec) => this.#persistWith(rec) : null,
      reserveBlock: o.reserveBlock,
      onError: (e) => this.#fail(e),
    });
    const channel = this.#channel;
    this.#budget = new OutputBudget({
      socket,
      queued: () => channel.buffered,
      sent: () => channel.bytesSent,
      random: o.env.random,
      sendPing: (data) => channel.send({ type: "ping", data }),
      highWater: o.limits.maxBufferedBytes,
      maxUnacked: o.limits.maxUnackedBytes,
      lowWater: o.drain?.lowWater,
      pollMs: o.drain?.pollMs,
    });
    this.#info = {
      sessionId: toHex(layer.sessionId),
      suite: layer.suite,
      keyId: this.#keyId ? toHex(this.#keyId) : null,
      clientAddress: o.clientAddress ?? null,
    };
    this.#state = "established";
    this.#lastRx = o.env.now();
    if (sendInfo) {
      this.#channel.send({
        type: "session_info",
        info: {
          maxStreams: o.limits.maxStreams,
          maxHeaderBytes: o.limits.maxHeaderBytes,
          maxBodyBytes: o.limits.maxBodyBytes,
          idleTimeoutMs: o.limits.idleTimeoutMs,
          sessionLifetimeS: Math.floor(o.limits.sessionLifetimeMs / 1000),
          sessionId: layer.sessionId,
          maxWindow: this.#maxWindow,
        },
      });
    }
  }

  get #maxWindow(): number {
    return this.#o.limits.maxWindowBytes ?? DEFAULT_MAX_WINDOW_BYTES;
  }

  #persistState(): void {
    if (!this.#o.persist || !this.#channel || this.#state !== "established") return;
    const layer = this.#channel.layer;
    this.#persistWith(layer.reservationMode ? layer.snapshot() : layer.reserve(this.#o.reserveBlock ?? 256));
  }

  #persistWith(record: Uint8Array): void {
    this.#streamsDirty = false;
    this.#o.persist!(encodeSessionSnapshot({
      record,
      keyId: this.#keyId,
      highestStreamId: this.#highest,
      openStreams: [...this.#streams.keys()],
      idle: { lastRxAt: this.#lastRx, pingSentAt: this.#pingOutstanding ? this.#pingSentAt : null },
    }));
  }

  // ---- frames ----------------------------------------------------------------------------

  /** Takes one token for a floodable frame; an empty bucket → 4009 rate_limited. */
  #charge(what: string): void {
    if (this.#bucket!.take(this.#o.env.now())) return;
    throw new PqgateError("rate_limited", `too many control frames (${what})`);
  }

  #onFrame(f: Frame): void {
    switch (f.type) {
      case "padding":
        this.#charge("PADDING");
        return;
      case "key_update": // applied by the record channel; each costs one of the 255 epochs
        if (f.updateRequested) this.#charge("KEY_UPDATE");
        return;
      case "ping":
        this.#charge("PING");
        if (this.#budget!.congested()) {
          // Best effort: never queue PONGs behind a socket the peer does not read.
          if (this.#pongsDropped++ === 0) this.#log("pong_dropped", { reason: "socket buffer above high-water mark" });
          return;
        }
        this.#channel!.send({ type: "pong", data: f.data });
        return;
      case "pong":
        if (!this.#budget!.onPong(f.data)) this.#charge("PONG");
        return;
      case "session_info":
        throw new PqgateError("protocol_error", "SESSION_INFO from the client");
      case "close":
        this.#log("peer_close", { code: f.code, reason: f.reason.slice(0, 123) });
        this.#teardown(CLOSE_NORMAL, new PqgateError("internal_error", "channel closed by client"));
        this.#closeSocket(CLOSE_NORMAL, "");
        return;
      case "headers":
        this.#onHeaders(f.stream, f.endStream, f.payload);
        return;
      case "data":
        this.#onData(f.stream, f.endStream, f.payload);
        return;
      case "reset_stream": {
        this.#charge("RESET_STREAM");
        const s = this.#lookup(f.stream);
        if (!s) return;
        this.#forget(s);
        const reason = new DOMException("stream reset by client", "AbortError");
        s.abort.abort(reason);
        s.body?.error(reason);
        s.out.abort(reason);
        return;
      }
      case "window_update": {
        if (f.stream === 0) return this.#charge("WINDOW_UPDATE on stream 0"); // reserved, ignored (§6.2)
        const s = this.#lookup(f.stream);
        if (!s) return this.#charge("WINDOW_UPDATE on a forgotten stream");
        // One WINDOW_UPDATE per stream and record is free; more in the same record cost a token.
        if (this.#windowUpdated.has(s.id)) this.#charge("WINDOW_UPDATE");
        else this.#windowUpdated.add(s.id);
        s.out.addWindow(f.increment); // past max_window → limit_exceeded (4013)
        return;
      }
    }
  }

  /** A live stream, or null for a late frame on a forgotten one; unknown above → error. */
  #lookup(id: number): ServerStream | null {
    const s = this.#streams.get(id);
    if (s) return s;
    if (id <= this.#highest) return null;
    throw new PqgateError("protocol_error", "frame for a stream never opened");
  }

  #onHeaders(id: number, endStream: boolean, payload: Uint8Array): void {
    if (this.#streams.has(id)) throw new PqgateError("protocol_error", "second HEADERS on a stream");
    if (id % 2 === 0 || id <= this.#highest) throw new PqgateError("protocol_error", "stream id not increasing");
    this.#highest = id;
    const o = this.#o;
    if (this.#streams.size >= o.limits.maxStreams) {
      this.#charge("stream refused past max_streams");
      this.#channel!.send({ type: "reset_stream", stream: id, errorCode: STREAM_REFUSED });
      this.#log("stream_refused", { stream: id });
      return;
    }
    const s: ServerStream = {
      id,
      body: null,
      remoteEnded: endStream,
      out: new OutgoingBody({
        sendData: (p, end) => this.#channel?.send({ type: "data", stream: id, endStream: end, payload: p }),
        drain: this.#budget!.wait,
        maxWindow: this.#maxWindow,
      }),
      responseStarted: false,
      localEnded: false,
      discardBody: false,
      isHead: false,
      abort: new AbortController(),
    };
    if (!endStream) {
      s.body = new IncomingBody({
        grant: (n) => this.#channel?.send({ type: "window_update", stream: id, increment: n }),
      });
    }
    this.#streams.set(id, s);

    let request: Request;
    try {
      const head = decodeRequestHead(payload, { maxBytes: o.limits.maxHeaderBytes });
      s.isHead = head.method.toUpperCase() === "HEAD";
      if (o.limits.maxBodyBytes > 0) {
        const cl = head.headers.find(([n]) => n === "content-length");
        if (cl && /^\d+$/.test(cl[1]) && Number(cl[1]) > o.limits.maxBodyBytes) {
          this.#respondError(s, "body_too_large");
          return;
        }
      }
      request = requestOf(head, s.body?.stream ?? null, s.abort.signal);
    } catch (e) {
      if (e instanceof BhttpError || e instanceof RequestMappingError) {
        this.#log("request_rejected", { stream: id, status: e.status, reason: e.message });
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
    const info = this.#info!;
    let pending: Promise<Response>;
    try {
      pending = Promise.resolve(o.handler(request, info));
    } catch (e) {
      pending = Promise.reject(e);
    }
    pending.then(
      (res) => this.#sendResponse(s, res),
      (e) => {
        if (this.#streams.get(id) !== s || s.responseStarted) return;
        if (s.abort.signal.aborted) return;
        this.#log("handler_error", { stream: id, error: (e as Error)?.name ?? "Error" });
        this.#respondError(s, "internal_error");
      },
    );
  }

  #onData(id: number, endStream: boolean, payload: Uint8Array): void {
    const s = this.#lookup(id);
    if (!s) return this.#charge("DATA on a forgotten stream");
    if (s.remoteEnded || !s.body) throw new PqgateError("protocol_error", "DATA after END_STREAM");
    s.body.push(payload, endStream); // limit_exceeded when over the window
    if (endStream) s.remoteEnded = true;
    const max = this.#o.limits.maxBodyBytes;
    if (max > 0 && s.body.received > max && !s.discardBody) {
      this.#log("request_rejected", { stream: id, status: 413, reason: "body over max_body_bytes" });
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

  #sendResponse(s: ServerStream, res: Response): void {
    try {
      this.#sendResponseOrThrow(s, res);
    } catch (e) {
      this.#fail(e);
    }
  }

  #sendResponseOrThrow(s: ServerStream, res: Response): void {
    const ok = res instanceof Response;
    if (this.#streams.get(s.id) !== s || s.responseStarted || this.#state !== "established") {
      if (ok) res.body?.cancel().catch(() => {});
      return;
    }
    let head: Uint8Array;
    try {
      if (!ok) throw new TypeError("handler did not return a Response");
      head = encodeResponseHead(responseHeadOf(res));
      if (head.length > MAX_FRAME_PAYLOAD) throw new BhttpError(431, "response head too large");
    } catch (e) {
      if (ok) res.body?.cancel().catch(() => {});
      this.#log("handler_error", { stream: s.id, error: (e as Error)?.message ?? "bad response" });
      this.#respondError(s, e instanceof BhttpError && e.status === 431 ? "origin_headers_too_large" : "bad_response");
      return;
    }
    this.#startResponse(s, head, res.body);
  }

  /** A session-made error response (src/tunnel/error-response.ts: `pqgate-error`, JSON body). */
  #respondError(s: ServerStream, code: SessionErrorCode): void {
    s.discardBody = true;
    s.body?.error(new DOMException("request rejected", "AbortError"));
    const { head: errorHead, body } = sessionError(code);
    const head = encodeResponseHead(errorHead);
    this.#startResponse(s, head, new ReadableStream({
      start(c) {
        c.enqueue(body);
        c.close();
      },
    }));
  }

  /** HEADERS wait for the output gate like DATA does (a bodiless response included). */
  #startResponse(s: ServerStream, head: Uint8Array, body: ReadableStream<Uint8Array> | null): void {
    s.responseStarted = true;
    if (s.isHead && body !== null) {
      body.cancel().catch(() => {});
      body = null;
    }
    const gate = this.#budget!.wait();
    if (gate) gate.then(() => this.#sendHead(s, head, body));
    else this.#sendHead(s, head, body);
  }

  #sendHead(s: ServerStream, head: Uint8Array, body: ReadableStream<Uint8Array> | null): void {
    if (this.#streams.get(s.id) !== s || this.#state !== "established") {
      body?.cancel().catch(() => {});
      return;
    }
    this.#channel!.send({ type: "headers", stream: s.id, endStream: body === null, payload: head });
    if (body === null) {
      this.#localEnd(s);
      return;
    }
    s.out.pump(body).then(
      () => this.#localEnd(s),
      (e) => {
        if (e instanceof BodyAborted || this.#streams.get(s.id) !== s) return;
        this.#log("response_body_error", { stream: s.id, error: (e as Error)?.name ?? "Error" });
        this.#reset(s, STREAM_INTERNAL, e);
      },
    );
  }

  /** The last frame is queued: the stream keeps its slot until the output gate lets it go. */
  #localEnd(s: ServerStream): void {
    const gate = this.#budget?.wait();
    if (gate) gate.then(() => this.#localEndNow(s));
    else this.#localEndNow(s);
  }

  #localEndNow(s: ServerStream): void {
    s.localEnded = true;
    if (this.#streams.get(s.id) !== s || this.#state !== "established") return;
    if (s.remoteEnded) {
      this.#forget(s);
      return;
    }
    // The response is complete but the request body is still coming: stop the upload
    // (the client keeps the complete response, §6.5 CANCEL).
    this.#reset(s, STREAM_CANCEL, new DOMException("response complete", "AbortError"));
  }

  #reset(s: ServerStream, code: number, reason: unknown): void {
    if (this.#streams.get(s.id) !== s) return;
    this.#forget(s);
    this.#channel?.send({ type: "reset_stream", stream: s.id, errorCode: code });
    s.body?.error(reason);
    s.out.abort(reason);
    if (code !== STREAM_CANCEL) s.abort.abort(reason);
  }

  #forget(s: ServerStream): void {
    if (this.#streams.get(s.id) !== s) return;
    this.#streams.delete(s.id);
    // With `persist`, the snapshot's open-stream list must be current before the object can
    // hibernate, or a wake resets a stream that already finished. Coalesced in one microtask:
    // a stream forgotten while a received record is processed rides on the persist that
    // follows that record (no extra write); one finished by a response costs one write.
    if (!this.#o.persist || this.#streamsDirty) return;
    this.#streamsDirty = true;
    queueMicrotask(() => {
      if (!this.#streamsDirty) return; // a persist since then already wrote the current list
      try {
        this.#persistState();
      } catch (e) {
        this.#fail(e);
      }
    });
  }

  // ---- closing ---------------------------------------------------------------------------

  /** Maps an error to its close code once: CLOSE frame (if records are up), then socket close. */
  #fail(e: unknown): void {
    if (this.#state === "closed") return;
    const code: ErrorCode = e instanceof PqgateError ? e.code : "internal_error";
    const closeCode = closeCodeFor(code);
    const reason = CLOSE_REASONS[code];
    this.#log("session_error", {
      code,
      closeCode,
      state: this.#state,
      detail: e instanceof PqgateError ? e.message : (e as Error)?.name ?? "Error",
    });
    if (this.#state === "established") this.#channel?.close(closeCode, reason);
    this.#teardown(closeCode, e instanceof PqgateError ? e : new PqgateError(code));
    this.#closeSocket(closeCode, reason);
  }

  #teardown(code: number, reason: unknown): void {
    this.#state = "closed";
    this.#closeCode = code;
    this.#hs?.close();
    this.#hs = null;
    this.#channel?.stop();
    this.#budget?.stop();
    const abort = new DOMException("channel closed", "AbortError");
    for (const s of this.#streams.values()) {
      s.abort.abort(abort);
      s.body?.error(reason);
      s.out.abort(reason);
    }
    this.#streams.clear();
  }

  #closeSocket(code: number, reason: string): void {
    try {
      this.#socket.close(code, reason);
    } catch { /* already closed */ }
  }

  #log(event: string, fields: Record<string, unknown>): void {
    try {
      this.#o.log?.(event, fields);
    } catch { /* logging never breaks the session */ }
  }
}
