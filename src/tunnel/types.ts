/**
 * Shapes shared by the tunnel, the gateway, the transports and the client.
 * The tunnel speaks standard `Request`/`Response`; it knows nothing of routes or origins.
 */
import type { AccessNote } from "./events.ts";
import type { RandomSource, SessionKeys, StaticKey } from "../protocol/types.ts";
import type { SuiteId } from "../protocol/constants.ts";

/**
 * What a transport hands to a Session: one WebSocket, reduced to two calls. Part of the session
 * seam (session-seam.ts: the session a transport drives and what it is built from).
 */
export interface Socket {
  send(bytes: Uint8Array<ArrayBuffer>): void;
  /** Close the socket with a WebSocket close code (PROTOCOL.md §9) and a short reason. */
  close(code: number, reason: string): void;
  /** Bytes queued but not yet sent (WebSocket.bufferedAmount), for backpressure; 0 if unknown. */
  readonly bufferedAmount?: number;
  /**
   * Optional TCP backpressure: stop reading from the peer (no more `receive` calls until
   * `resumeReading`). The session pauses while its unsent output is above the high-water mark
   * and resumes below the low-water mark. Transports that cannot pause omit both; the session
   * then bounds what it accepts by protocol means (SECURITY.md, resource accounting).
   */
  pauseReading?(): void;
  resumeReading?(): void;
  /**
   * Optional: the largest WebSocket message the transport accepts from now on, enforced at the
   * frame header (a larger message closes the socket with 1009 before its payload is buffered).
   * Transports start at `MAX_CLIENT_HELLO_LEN`; the session raises it to `MAX_RECORD_LEN` once
   * it sent the ServerHello (PROTOCOL.md §1).
   */
  setMaxMessageSize?(bytes: number): void;
}

/** Per-session limits the gateway announces in SESSION_INFO (PROTOCOL.md §6.3). */
export interface SessionLimits {
  maxStreams: number;
  maxHeaderBytes: number;
  /** 0 = no limit. */
  maxBodyBytes: number;
  handshakeTimeoutMs: number;
  idleTimeoutMs: number;
  sessionLifetimeMs: number;
  /**
   * Control frames a peer can flood (PING, PONG, PADDING, WINDOW_UPDATE on stream 0, frames on
   * already-forgotten streams, KEY_UPDATE with update_requested): sustained rate per second of a
   * per-channel token bucket. Past it the channel closes with 4009 `rate_limited`. Not announced
   * in SESSION_INFO. Default 1,000 (src/tunnel/rate-limit.ts).
   */
  maxControlFramesPerSecond?: number;
  /** The bucket's size: control frames accepted at once before the rate applies. Default 2,000. */
  controlFrameBurst?: number;
  /**
   * The gateway's own output queue per channel (unsealed frames + the socket's unsent bytes):
   * above it response HEADERS and DATA wait and the transport stops reading from the client.
   * Default 256 KiB (src/tunnel/output-budget.ts). Not announced.
   */
  maxBufferedBytes?: number;
  /**
   * Bytes sent that the client has not acknowledged (a PONG to a flow probe, PROTOCOL.md §6.2):
   * above it output waits; past twice this the channel is closed with 4013. Default 4 MiB.
   */
  maxUnackedBytes?: number;
  /**
   * Largest send window a client may grant on one stream, announced as SESSION_INFO
   * `max_window`; a WINDOW_UPDATE past it → 4013. Default 16 MiB, from 65,536 to 2^31-1.
   */
  maxWindowBytes?: number;
  /**
   * Largest tunneled WebSocket message (PROTOCOL.md §6.9), announced as SESSION_INFO
   * `max_ws_message` (48 bytes) only when set; absent or 0: WebSocket streams are answered 405
   * (absent: the 44-byte SESSION_INFO of 1.3). The gateway's default is 1 MiB
   * (src/tunnel/ws-messages.ts DEFAULT_MAX_WS_MESSAGE); at most 2^32-1.
   */
  maxWsMessage?: number;
}

/** What the gateway's request handler learns about the channel a request came through. */
export interface ChannelInfo {
  sessionId: string; // hex of the 16-byte session id (public, not a secret)
  suite: SuiteId;
  keyId: string | null; // hex, null in anonymous mode
  clientAddress: string | null;
  /**
   * Who the client proved to be on this channel (docs/client-auth.md), as settled when this
   * request was dispatched: the session dispatches no request that arrived after an AUTH frame
   * before that AUTH's result. Absent or null: not authenticated.
   */
  identity?: ClientIdentity | null;
}

/** Client authentication methods (PROTOCOL.md, client authentication; docs/client-auth.md). */
export type AuthMethod = "password" | "token" | "psk";

/** An authenticated client as the gateway's policy and the origin headers see it. */
export interface ClientIdentity {
  method: AuthMethod;
  /** The user name, the token's `sub`, or the PSK identity. Never a credential. */
  subject: string;
  /** The token's `iss` (token method only). */
  issuer?: string;
  /** When the identity stops counting (the token's `exp`, ms since the epoch), if it does. */
  expiresAt?: number;
}

/**
 * Why an authentication attempt failed, as AUTH_RESULT carries it to the client. A wrong
 * password and an unknown user are the same `bad_credentials` (no user enumeration).
 */
export type AuthFailure =
  | "bad_credentials"
  | "token_expired"
  | "token_invalid"
  | "busy"
  | "rate_limited"
  | "method_not_enabled";

export type AuthOutcome =
  | { ok: true; identity: ClientIdentity }
  | { ok: false; reason: AuthFailure; retryAfterMs?: number };

/**
 * What the session asks to check credentials (implemented in src/auth/, built by the gateway
 * from its configuration). Credentials are handed over once and never logged or kept; the
 * implementation bounds its own work (verifications in flight, failures per address and user)
 * and answers `busy` / `rate_limited` instead of queueing without limit.
 */
export interface AuthVerifier {
  readonly methods: ReadonlySet<AuthMethod>;
  password?(
    username: string,
    password: Uint8Array,
    clientAddress: string | null,
  ): Promise<AuthOutcome>;
  token?(token: string, clientAddress: string | null): Promise<AuthOutcome>;
  /**
   * The 32-byte PSK of `identity`, or null when there is none (the handshake then runs on a
   * dummy key and fails with the same 4004 as a wrong PSK). Synchronous: it runs inside the
   * handshake core.
   */
  psk?(identity: string): Uint8Array | null;
}

/**
 * A decrypted request as the session validated it, without a `Request` object: what
 * `RequestHandler.decoded` receives. The session checks exactly what it checks before building
 * a `Request` (http-mapping.ts `requestOf`), and the fields hold what that `Request` would.
 */
export interface DecodedRequest {
  /** As `Request.method`: DELETE, GET, HEAD, OPTIONS, POST and PUT uppercased, others as sent. */
  method: string;
  /** `Request.url`: the serialized target URL. */
  url: string;
  /** The URL's scheme ("https" or "http"), host (with a non-default port) and path + query. */
  scheme: string;
  host: string;
  path: string;
  headers: Headers;
  body: ReadableStream<Uint8Array> | null;
  signal: AbortSignal;
  /**
   * Present for a WebSocket stream (PROTOCOL.md §6.9: method CONNECT with
   * `pqgate-protocol: websocket`; the head rules already checked). `body` is then the client's
   * message bytes (never null), window granted as it is read; the handler answers 200 with a
   * body of the origin's message bytes, or any other status to refuse. `headers` still hold
   * `pqgate-protocol` and the handshake fields: the handler's header policy removes them.
   */
  websocket?: DecodedWebSocket;
}

/** What the session tells the handler about a WebSocket stream (PROTOCOL.md §6.9). */
export interface DecodedWebSocket {
  /** The offered subprotocols (`sec-websocket-protocol`), in order; validated tokens. */
  protocols: string[];
  /** WebSocket streams open on this channel, this one included (for a per-channel cap). */
  channelSockets: number;
  /** The channel's `max_ws_message` (SESSION_INFO), > 0. */
  maxMessage: number;
}

/**
 * A response as the gateway's own handler returns it through `RequestHandler.decoded` (the
 * proxy's `forwardParts`): what a `Response` would hold, without the object. `headers` are
 * valid field lines as Headers gives them (lowercase names, repeated fields combined, each
 * set-cookie on its own); `body` is null, the whole body, or a stream.
 */
export interface DecodedResponse {
  status: number;
  headers: [string, string][];
  body: Uint8Array | ReadableStream<Uint8Array> | null;
}

/**
 * The gateway side: turn one decrypted request into a response (the proxy does this). `access`
 * is present only when the gateway's event sink wants access lines (src/tunnel/events.ts): the
 * handler notes its route and origin time there. A handler with `decoded` (the gateway's own,
 * src/gateway/request-handler.ts) is called through it instead, with the same request as a
 * `DecodedRequest`: building a `Request` only for the handler to take it apart again is ~20 µs
 * per request on Deno (issue 13); so is a `Response` made only for the session to take it apart,
 * so it may answer with a `DecodedResponse`.
 */
export type RequestHandler =
  & ((request: Request, channel: ChannelInfo, access?: AccessNote) => Promise<Response>)
  & {
    decoded?: (
      request: DecodedRequest,
      channel: ChannelInfo,
      access?: AccessNote,
    ) => Promise<Response | DecodedResponse>;
  };

/** Injected clock and randomness (the core is deterministic under test). */
export interface Env {
  now(): number;
  random: RandomSource;
}

export type { SessionKeys, StaticKey, SuiteId };
