/**
 * The gateway side of one pqgate/1 channel: handshake (§3, §7), records (§5), frames and
 * streams (§6), mapped onto the gateway's `RequestHandler` as standard `Request`/`Response`.
 *
 * Transport contract: session-seam.ts (`GatewaySession`, built from `SessionOptions`; a
 * restored session comes from `ServerSession.resume`).
 *
 * Every protocol error closes the channel exactly once: an authenticated CLOSE frame (when
 * records are up) followed by the WebSocket close with the code of errors.ts `closeCodeFor`.
 * Per-request problems are HTTP responses on the stream (400, 413, 431, 500) or a
 * RESET_STREAM, never a close.
 *
 * Flood control (src/tunnel/rate-limit.ts `ControlFrameBudget`): every frame that carries no
 * request data costs a token of a per-channel bucket; an empty bucket closes with 4009
 * `rate_limited`. Output bounds (src/tunnel/server-output.ts): everything queued toward the
 * socket counts; response HEADERS and DATA wait while the output is over its marks, and a client
 * that makes the gateway hold more than twice `limits.maxUnackedBytes` is closed with 4013
 * `limit_exceeded`. Streams and their requests: src/tunnel/server-streams.ts.
 */
import { CLOSE_GOING_AWAY, CLOSE_NORMAL, PqgateError } from "../protocol/errors.ts";
import type { Bytes } from "../protocol/bytes.ts";
import {
  MAX_RECORD_LEN,
  MSG_CLIENT_FINISHED,
  MSG_CLIENT_HELLO,
  PING_LEN,
} from "../protocol/constants.ts";
import { type Frame, STREAM_INTERNAL } from "../protocol/frames.ts";
import { ServerHandshake } from "../protocol/handshake-server.ts";
import { RecordLayer } from "../protocol/record-layer.ts";
import { handshakeDeadline, IdlePing } from "./liveness.ts";
import { binaryMessage, discardPrepared, MessageHold, type WireMessage } from "./message-hold.ts";
import type { OutputBudget } from "./output-budget.ts";
import { ControlFrameBudget } from "./rate-limit.ts";
import type { RecordChannel } from "./record-channel.ts";
import { openServerOutput } from "./server-output.ts";
import { ServerStreams } from "./server-streams.ts";
import { type AuthState, ServerAuth } from "./server-auth.ts";
import { emit, type EventFields, type EventName, wants } from "./events.ts";
import { closeFor, closeSocket } from "./session-close.ts";
import { SessionPersistence } from "./session-persistence.ts";
import { decodeSessionSnapshot } from "./session-snapshot.ts";
import type { GatewaySession, SessionOptions, SessionState } from "./session-seam.ts";
import type { ChannelInfo, ClientIdentity, Socket, StaticKey } from "./types.ts";

/** The constructor's options (session-seam.ts); the name src/tunnel/testing.ts imports. */
export type { SessionOptions as ServerSessionOptions };

/** Messages held while a ClientHello is in the async KEM hop; more → 4011 (a client sends none). */
const MAX_HELD_MESSAGES = 4;

export type ResumeOptions =
  & Omit<SessionOptions, "keys" | "suites" | "allowAnonymous" | "kem">
  & {
    keys?: StaticKey[];
  };

export class ServerSession implements GatewaySession {
  #state: SessionState = "start";
  readonly #o: SessionOptions;
  readonly #socket: Socket;
  #hs: ServerHandshake | null = null;
  #channel: RecordChannel | null = null;
  #info: ChannelInfo | null = null;
  #keyId: Bytes | null = null;
  readonly #streams: ServerStreams;
  readonly #createdAt: number;
  /** Last receive and the idle PING (liveness.ts); persisted with the session. */
  readonly #idle: IdlePing;
  /** Hibernation snapshots (a no-op without `persist`). */
  readonly #persistence: SessionPersistence;
  /** Output accounting (created with the record channel). */
  #budget: OutputBudget | null = null;
  #closeCode: number | null = null;
  /**
   * While the ClientHello is in the async KEM hop: later messages, replayed in order. Handshake
   * only: dropped (with the KEM) once established, so an idle channel keeps neither.
   */
  #hold: MessageHold | null;
  /** This connection's KEM (SessionOptions `kem`) until the channel is established. */
  #kem: SessionOptions["kem"];
  /** Control-frame budget (created when the channel is established). */
  #bucket: ControlFrameBudget | null = null;
  #pongsDropped = 0;
  /** WebSocket message bytes received (all of them, handshake included): channel_close. */
  #bytesIn = 0;
  /**
   * Client authentication (server-auth.ts): created when an established channel's ClientHello
   * announced psk or client_auth; null otherwise (an idle channel without it keeps nothing).
   */
  #auth: ServerAuth | null = null;

  constructor(options: SessionOptions) {
    // Without `kem`: the prepared KEM is the handshake's, kept in #kem until established.
    const opts: SessionOptions = options.kem ? { ...options, kem: undefined } : options;
    this.#kem = options.kem;
    this.#o = opts;
    this.#socket = opts.socket;
    this.#createdAt = opts.env.now();
    this.#idle = new IdlePing(opts.limits, this.#createdAt);
    this.#hs = new ServerHandshake({
      keys: opts.keys,
      suites: opts.suites,
      allowAnonymous: opts.allowAnonymous,
      random: opts.env.random,
      kem: options.kem,
      psk: pskLookup(opts),
    });
    this.#hold = new MessageHold({
      receiveNow: (m) => this.#receiveNow(m),
      onStart: () => (this.#idle.lastRx = this.#o.env.now()),
      // this.#kem, not `kem`: a closure over it would keep it in this constructor's context.
      discard: () => discardPrepared(this.#kem as { discard?: () => void } | undefined),
      maxHeld: MAX_HELD_MESSAGES,
      onOverflow: () =>
        this.#fail(new PqgateError("protocol_error", "messages before the ServerHello")),
    });
    this.#streams = new ServerStreams(opts, {
      send: (frame) => this.#channel?.send(frame),
      budget: () => this.#budget!,
      info: () => this.#info!,
      requestInfo: () => this.#requestInfo(),
      held: () => this.#auth !== null && this.#auth.pending,
      hold: (run) => this.#auth!.hold(run),
      established: () => this.#state === "established",
      charge: (what) => this.#charge(what),
      fail: (e) => this.#fail(e),
      log: (event, fields) => this.#log(event, fields),
      access: wants(opts.log, "request"),
      forgotten: () => {
        this.#persistence.streamForgotten();
        if (this.#streams.draining && this.#streams.size === 0) {
          queueMicrotask(() => this.shutdown()); // after the frame being processed
        }
      },
    });
    this.#persistence = new SessionPersistence({
      persist: opts.persist,
      reserveBlock: opts.reserveBlock,
      layer: () => this.#state === "established" ? this.#channel?.layer ?? null : null,
      snapshot: (record) => ({
        record,
        keyId: this.#keyId,
        highestStreamId: this.#streams.highest,
        openStreams: this.#streams.ids(),
        idle: this.#idle.snapshot(),
        auth: this.#auth?.state(),
      }),
      fail: (e) => this.#fail(e),
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
    if (layer.role !== "server") {
      throw new PqgateError("internal_error", "snapshot is not a gateway session");
    }
    const s = new ServerSession({ ...opts, keys: opts.keys ?? [] });
    s.#hs?.close();
    s.#hs = null;
    s.#keyId = snap.keyId;
    s.#streams.highest = snap.highestStreamId;
    s.#establish(layer, false, snap.auth);
    // The idle clock continues across the wake (SESSION_INFO idle_timeout_ms is a promise about
    // the channel, not about one instance; liveness.ts). A version-1 snapshot has no idle
    // clock: it starts at this wake, once.
    const now = opts.env.now();
    if (snap.idle) s.#idle.restore(snap.idle, now);
    for (const id of snap.openStreams) {
      s.#channel!.send({ type: "reset_stream", stream: id, errorCode: STREAM_INTERNAL });
    }
    // A verification that ran in the old instance is lost: the client is told to retry.
    if (snap.auth.pending) s.#auth?.resumedPending();
    s.#log("session_resumed", {
      sessionId: s.#info!.sessionId,
      lostStreams: snap.openStreams.length,
      idleMs: now - s.#idle.lastRx,
      pingOutstanding: s.#idle.pingOutstanding,
    });
    // Persist now so that the lost streams are not reset a second time after another restore.
    s.#persistence.persistState();
    return s;
  }

  get state(): SessionState {
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
    return (this.#budget?.local ?? 0) + this.#streams.bufferedBytes;
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
  receive(message: WireMessage): void | Promise<void> {
    if (this.#state === "closed") return;
    const hold = this.#hold;
    if (!hold) return this.#receiveNow(message);
    const kem = this.#kem;
    const async = this.#state === "start" && typeof kem?.prepareServer === "function";
    const step = async
      ? { type: MSG_CLIENT_HELLO, prepare: (m: Uint8Array) => kem.prepareServer!(m) }
      : null;
    return hold.receive(message, step);
  }

  #receiveNow(message: WireMessage): void {
    if (this.#state === "closed") return;
    try {
      const msg = binaryMessage(message);
      this.#bytesIn += msg.length;
      this.#idle.received(this.#o.env.now());
      switch (this.#state) {
        case "start": {
          if (msg[0] !== MSG_CLIENT_HELLO) {
            throw new PqgateError("protocol_error", "expected ClientHello");
          }
          const sh = this.#hs!.receiveClientHello(msg);
          this.#state = "serverHelloSent";
          this.#socket.send(sh);
          // From now on the client may send records (PROTOCOL.md §1): one record at most.
          this.#socket.setMaxMessageSize?.(MAX_RECORD_LEN);
          break;
        }
        case "serverHelloSent": {
          if (msg[0] !== MSG_CLIENT_FINISHED) {
            throw new PqgateError("protocol_error", "expected ClientFinished");
          }
          const hs = this.#hs!;
          const keys = hs.receiveClientFinished(msg);
          this.#keyId = hs.keyId;
          const auth = ServerAuth.initial(hs.clientAuth);
          this.#hs = null;
          const layer = new RecordLayer({
            role: "server",
            keys,
            now: this.#o.env.now(),
            aead: this.#o.aead,
            limits: {
              sessionLifetimeMs: this.#o.limits.sessionLifetimeMs,
              ...this.#o.recordLimits,
            },
            reservation: !!this.#o.persist,
          });
          this.#establish(layer, true, auth);
          this.#persistence.persistState();
          this.#log("handshake", {
            result: "ok",
            closeCode: 0,
            error: null,
            ms: this.#o.env.now() - this.#createdAt,
            keyId: this.#info!.keyId,
            suite: layer.suite,
          });
          this.#opened(false);
          this.#auth?.established();
          break;
        }
        case "established": {
          const frames = this.#channel!.open(msg);
          this.#auth?.record(frames); // client_auth: the first record starts with AUTH
          this.#streams.newRecord();
          for (const f of frames) {
            this.#onFrame(f);
            if (this.#state !== "established") return;
          }
          if (this.#budget!.overHardLimit()) {
            this.#log("refused", { reason: "unread_output", status: 4013 });
            throw new PqgateError(
              "limit_exceeded",
              "client is not reading (unacknowledged output)",
            );
          }
          this.#persistence.persistState();
          break;
        }
      }
    } catch (e) {
      this.#fail(e);
    }
  }

  /** The WebSocket closed (by the peer or the platform). */
  onSocketClose(code: number, _reason: string): void {
    if (this.#state === "closed") return;
    // A socket gone without a close frame reports 1005/1006, or (some platforms) 0: 1006.
    const socketCode = code >= 1000 && code <= 4999 ? code : 1006;
    this.#ended(socketCode, "socket_closed", "client", socketCode, "abandoned");
    this.#teardown(socketCode, () => new PqgateError("internal_error", "channel closed"));
  }

  /** The next time (ms, `env.now()` clock) `onTimer` must run, or null when none. */
  nextDeadline(): number | null {
    const l = this.#o.limits;
    switch (this.#state) {
      case "closed":
        return null;
      case "start":
      case "serverHelloSent":
        return handshakeDeadline(this.#createdAt, l.handshakeTimeoutMs);
      case "established": {
        const d = Math.min(this.#idle.deadline(), this.#channel!.layer.expiresAt);
        const a = this.#auth?.deadline() ?? null;
        return a === null ? d : Math.min(d, a);
      }
    }
  }

  /** Runs whatever is due at `now`: handshake timeout, idle PING / timeout, session lifetime. */
  onTimer(now: number): void {
    if (this.#state === "closed") return;
    try {
      const l = this.#o.limits;
      if (this.#state !== "established") {
        if (now >= handshakeDeadline(this.#createdAt, l.handshakeTimeoutMs)) {
          throw new PqgateError("handshake_timeout");
        }
        return;
      }
      if (now >= this.#channel!.layer.expiresAt) {
        throw new PqgateError("rehandshake_required", "session lifetime");
      }
      if (this.#idle.expired(now)) throw new PqgateError("idle_timeout");
      this.#auth?.onTimer(now);
      if (this.#idle.pingDue(now)) {
        this.#channel!.send({
          type: "ping",
          data: this.#o.env.random(PING_LEN).slice(0, PING_LEN),
        });
        this.#persistence.persistState(); // a wake must not send a second idle PING (session-snapshot.ts)
      }
    } catch (e) {
      this.#fail(e);
    }
  }

  /** Graceful shutdown: CLOSE frame (1001) then WebSocket close 1001 "going away". */
  shutdown(): void {
    if (this.#state === "closed") return;
    this.#ended(CLOSE_GOING_AWAY, "shutdown", "gateway", null, "abandoned");
    this.#channel?.close(CLOSE_GOING_AWAY, "going away");
    this.#teardown(
      CLOSE_GOING_AWAY,
      () => new PqgateError("internal_error", "gateway shutting down"),
    );
    this.#closeSocket(CLOSE_GOING_AWAY, "going away");
  }

  /** Drain (session-seam.ts): refuse new streams, shut down once none is open. */
  drain(): void {
    if (this.#state === "closed") return;
    if (this.#state !== "established" || this.#streams.size === 0) return this.shutdown();
    this.#streams.draining = true;
  }

  // ---- establishment ---------------------------------------------------------------------

  #establish(layer: RecordLayer, sendInfo: boolean, auth: AuthState): void {
    const o = this.#o;
    this.#bucket = new ControlFrameBudget(o.limits, o.env.now());
    const { channel, budget } = openServerOutput({
      layer,
      socket: this.#socket,
      env: o.env,
      limits: o.limits,
      persist: this.#persistence.enabled ? (rec) => this.#persistence.persistWith(rec) : null,
      reserveBlock: o.reserveBlock,
      drain: o.drain,
      onError: (e) => this.#fail(e),
    });
    this.#channel = channel;
    this.#budget = budget;
    this.#info = {
      sessionId: flatHex(layer.sessionId),
      suite: layer.suite,
      keyId: this.#keyId ? keyIdHex(this.#keyId) : null,
      clientAddress: o.clientAddress ?? null,
    };
    if (auth.identity) this.#info.identity = auth.identity;
    this.#auth = auth.announced === null ? null : new ServerAuth({
      verifier: o.auth,
      clientAddress: o.clientAddress ?? null,
      exporterSecret: () => layer.exporterSecret,
      send: (frame) => this.#channel?.send(frame),
      charge: (what) => this.#charge(what),
      now: () => this.#o.env.now(),
      identityChanged: (identity) => this.#identityChanged(identity),
      log: (fields) => {
        if (this.#o.log) this.#log("auth", { sessionId: this.#info!.sessionId, ...fields });
      },
      changed: () => this.#persistence.persistState(),
      fail: (e) => this.#fail(e),
    }, auth);
    this.#state = "established";
    // Nothing is held once established (a ClientFinished is replayed after the hop ended).
    this.#hold = null;
    this.#kem = undefined;
    this.#idle.lastRx = o.env.now();
    if (!sendInfo) this.#opened(true);
    if (sendInfo) {
      channel.send({
        type: "session_info",
        info: {
          maxStreams: o.limits.maxStreams,
          maxHeaderBytes: o.limits.maxHeaderBytes,
          maxBodyBytes: o.limits.maxBodyBytes,
          idleTimeoutMs: o.limits.idleTimeoutMs,
          sessionLifetimeS: Math.floor(o.limits.sessionLifetimeMs / 1000),
          sessionId: layer.sessionId,
          maxWindow: this.#streams.maxWindow,
          // 48 bytes only when the gateway sets it (PROTOCOL.md §6.9): vectors stay at 44.
          ...(o.limits.maxWsMessage === undefined ? {} : { maxWsMessage: o.limits.maxWsMessage }),
        },
      });
    }
  }

  // ---- frames ----------------------------------------------------------------------------

  /** Takes one token for a floodable frame; an empty bucket → 4009 rate_limited. */
  #charge(what: string): void {
    this.#bucket!.charge(what, this.#o.env.now());
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
          if (this.#pongsDropped++ === 0) {
            this.#log("pong_dropped", {
              sessionId: this.#info!.sessionId,
              reason: "socket buffer above high-water mark",
            });
          }
          return;
        }
        this.#channel!.send({ type: "pong", data: f.data });
        return;
      case "pong":
        if (!this.#budget!.onPong(f.data)) this.#charge("PONG");
        return;
      case "session_info":
        throw new PqgateError("protocol_error", "SESSION_INFO from the client");
      case "auth":
        if (!this.#auth) throw new PqgateError("protocol_error", "AUTH without client_auth");
        this.#auth.onAuth(f.auth);
        return;
      case "auth_result":
        throw new PqgateError("protocol_error", "AUTH_RESULT from the client");
      case "close":
        this.#ended(f.code, "client_close", "client", null, "abandoned");
        this.#teardown(
          CLOSE_NORMAL,
          () => new PqgateError("internal_error", "channel closed by client"),
        );
        this.#closeSocket(CLOSE_NORMAL, "");
        return;
      case "headers":
      case "data":
      case "reset_stream":
      case "window_update":
        this.#streams.onFrame(f);
        return;
    }
  }

  // ---- client authentication -------------------------------------------------------------

  /** A new identity: a new ChannelInfo (requests dispatched before keep theirs). */
  #identityChanged(identity: ClientIdentity | null): void {
    this.#info = { ...this.#info!, identity };
  }

  /**
   * The ChannelInfo a request is dispatched with: the identity as settled now; a token
   * identity past its `expiresAt` counts as none (types.ts ChannelInfo.identity).
   */
  #requestInfo(): ChannelInfo {
    const info = this.#info!;
    const exp = info.identity?.expiresAt;
    if (exp !== undefined && exp <= this.#o.env.now()) return { ...info, identity: null };
    return info;
  }

  // ---- closing ---------------------------------------------------------------------------

  /** Maps an error to its close code once: CLOSE frame (if records are up), then socket close. */
  #fail(e: unknown): void {
    if (this.#state === "closed") return;
    const { code, closeCode, reason } = closeFor(e);
    this.#log("session_error", {
      sessionId: this.#info?.sessionId ?? null,
      code,
      closeCode,
      state: this.#state,
      detail: e instanceof PqgateError ? e.message : (e as Error)?.name ?? "Error",
    });
    if (code === "rate_limited") {
      this.#log("refused", { reason: "control_frame_rate", status: closeCode });
    }
    this.#ended(closeCode, code, "gateway", null, code);
    if (this.#state === "established") this.#channel?.close(closeCode, reason);
    this.#teardown(closeCode, () => e instanceof PqgateError ? e : new PqgateError(code));
    this.#closeSocket(closeCode, reason);
  }

  /**
   * `reason` is what open streams fail with, made only when one is open: an Error (and the
   * streams' AbortError) captures a stack trace, ~10-20 µs, on every channel close otherwise.
   */
  #teardown(code: number, reason: () => unknown): void {
    this.#state = "closed";
    this.#closeCode = code;
    this.#hs?.close();
    this.#hs = null;
    this.#auth?.stop();
    this.#channel?.stop();
    this.#budget?.stop();
    if (this.#streams.size > 0) this.#streams.closeAll(reason());
  }

  #closeSocket(code: number, reason: string): void {
    closeSocket(this.#socket, code, reason);
  }

  #log<E extends EventName>(event: E, fields: EventFields[E]): void {
    emit(this.#o.log, event, fields);
  }

  /** channel_open: after the handshake, or after a restore (`resumed`). */
  #opened(resumed: boolean): void {
    if (this.#o.log === undefined) return;
    const info = this.#info!;
    this.#log("channel_open", {
      sessionId: info.sessionId,
      keyId: info.keyId,
      suite: info.suite,
      mode: info.keyId === null ? "anonymous" : "pinned",
      resumed,
      clientAddress: info.clientAddress,
    });
  }

  /**
   * The channel ends (called once, before #teardown): channel_close when it was established,
   * else the failed `handshake` (`error`: its error code, "abandoned" when the socket went).
   */
  #ended(
    closeCode: number,
    reason: string,
    by: "gateway" | "client",
    socketCode: number | null,
    error: EventFields["handshake"]["error"],
  ): void {
    if (this.#o.log === undefined) return;
    const now = this.#o.env.now();
    const info = this.#info;
    if (this.#state !== "established" || info === null) {
      this.#log("handshake", {
        result: "failed",
        closeCode,
        error,
        ms: now - this.#createdAt,
        keyId: null,
        suite: null,
      });
      return;
    }
    this.#log("channel_close", {
      sessionId: info.sessionId,
      keyId: info.keyId,
      suite: info.suite,
      closeCode,
      reason,
      by,
      lifetimeMs: now - this.#createdAt,
      bytesIn: this.#bytesIn,
      bytesOut: this.#channel?.bytesSent ?? 0,
      requests: this.#streams.opened,
      socketCode,
    });
  }
}

/** The handshake's PSK lookup (SessionOptions.auth.psk), called as a method of the verifier. */
function pskLookup(o: SessionOptions): ((identity: string) => Uint8Array | null) | undefined {
  const v = o.auth;
  if (!v || typeof v.psk !== "function" || !v.methods.has("psk")) return undefined;
  return (identity) => v.psk!(identity);
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/**
 * Hex of PUBLIC bytes as one flat string: `toHex`'s `+=` leaves a chain of cons strings and
 * 2-character leaves (~0.4 KB for a 16-byte session id) in every idle session (issue 13).
 */
function flatHex(b: Uint8Array): string {
  const parts = new Array<string>(b.length);
  for (let i = 0; i < b.length; i++) parts[i] = HEX[b[i]];
  return parts.join("");
}

/** The last key id's hex: every session of one static key shares one string. Public bytes. */
let lastKeyId: { bytes: Uint8Array; hex: string } | null = null;
function keyIdHex(id: Uint8Array): string {
  const c = lastKeyId;
  if (c && c.bytes.length === id.length && c.bytes.every((x, i) => x === id[i])) return c.hex;
  lastKeyId = { bytes: Uint8Array.from(id), hex: flatHex(id) };
  return lastKeyId.hex;
}
