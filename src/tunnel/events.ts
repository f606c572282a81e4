/**
 * The gateway's observation seam: the ONE declaration of every event the gateway emits (its
 * name, its fields, its log level, and which of its fields are private). Sessions, the request
 * handler, the transports and the Worker emit only these, through one `EventLog` callback
 * (createGateway `log`); every sink reads the same stream: the JSON-line log writer
 * (src/gateway/log-writer.ts), the Prometheus metrics (src/transport/observe/prom-metrics.ts)
 * and the Workers Analytics Engine writer (src/transport/cloudflare/analytics.ts).
 * docs/operations.md lists them for operators.
 *
 * Fields never carry secrets (keys, seeds, plaintext bodies, the ClientHello, gatewayAuth).
 * Fields named in `PRIVATE_FIELDS` (the request target, client addresses, a refused page's
 * Origin) are user data: the log writer drops them unless the operator enabled them, and no
 * metric label ever holds them.
 *
 * Cost: with no `log` the session allocates nothing per request for observation; with one, a
 * stream allocates one `AccessRecord` only when the sink `wants("request")`.
 */
import type { ErrorCode } from "../protocol/errors.ts";

/** Log levels, least severe first; "off" is only a threshold. */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Why the gateway refused work: a closed set, so a metric label over it is bounded. */
export const REFUSAL_REASONS = [
  /** Per-address handshake rate (maxHandshakesPerAddressPerMinute): 429 before the upgrade. */
  "rate_limit_handshakes",
  /** Per-address open channels (maxChannelsPerAddress): 429 before the upgrade. */
  "rate_limit_channels",
  /** Process socket cap (maxSockets): 503 before the upgrade. */
  "max_sockets",
  /** Process handshakes-in-flight cap (maxHandshakesInFlight): 503 before the upgrade. */
  "max_handshakes_in_flight",
  /**
   * The gateway is shutting down: 503 before the upgrade; a new stream on a draining channel
   * is refused (REFUSED, status 0).
   */
  "shutting_down",
  /** The page's Origin is not in allowedOrigins: 403 before the upgrade. */
  "origin_not_allowed",
  /** A ClientHello in the upgrade URL that is malformed or longer than any (400 / 414). */
  "upgrade_hello",
  /** A HEADERS past the channel's max_streams: the stream is refused (REFUSED). */
  "max_streams",
  /** A request head over maxHeaderBytes: 431. */
  "headers_too_large",
  /** A request body over maxBodyBytes: 413 or the stream reset. */
  "body_too_large",
  /** Control-frame flood: the channel closed with 4009 rate_limited. */
  "control_frame_rate",
  /** A client that does not read: the channel closed with 4013 limit_exceeded. */
  "unread_output",
] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

/** Hex key id (public), or null for an anonymous-mode channel. */
type KeyId = string | null;

/** Every event and its fields. Type aliases (not interfaces): each is a plain record. */
export type EventFields = {
  /** A handshake finished, either way. `closeCode` 0 for "ok". */
  handshake: {
    result: "ok" | "failed";
    closeCode: number;
    /** Error code of a failure (protocol errors.ts), or "abandoned" when the socket went away. */
    error: ErrorCode | "abandoned" | null;
    ms: number;
    keyId: KeyId;
    suite: number | null;
  };
  /** A channel is established (after the handshake, or restored after a hibernation wake). */
  channel_open: {
    sessionId: string;
    keyId: KeyId;
    suite: number;
    mode: "pinned" | "anonymous";
    resumed: boolean;
    clientAddress: string | null;
  };
  /** An established channel closed. Bytes are WebSocket message bytes (records) each way. */
  channel_close: {
    sessionId: string;
    keyId: KeyId;
    suite: number;
    closeCode: number;
    /** What closed it: an error code, "client_close", "socket_closed", "shutdown". */
    reason: string;
    /** Who closed it first: the gateway (an error, a limit, shutdown) or the client. */
    by: "gateway" | "client";
    lifetimeMs: number;
    bytesIn: number;
    bytesOut: number;
    requests: number;
    /** The socket's close code as the platform reported it (client-closed sockets only). */
    socketCode: number | null;
  };
  /**
   * A tunneled WebSocket (PROTOCOL.md §6.9) ended; its stream's `request` line follows. Counts
   * are messages and payload bytes each way (in: client → origin); `peakHeld` the most origin
   * bytes it held for a slow client (bounded by 2 × max_ws_message + 65,536).
   */
  websocket: {
    sessionId: string;
    route: string;
    /**
     * "closed": both closing handshakes done (or the close timeout passed); "origin_failed":
     * the origin's connection was lost (1006) or it sent a message over the limit;
     * "client_reset": the client reset the stream or its channel went away; "client_invalid":
     * the client's messages broke §6.9; "stalled": the client stopped reading past the bound.
     */
    outcome: "closed" | "origin_failed" | "client_reset" | "client_invalid" | "stalled";
    /** The close code the client was sent (null when the stream was reset instead). */
    closeCode: number | null;
    /** Who closed first: the client's close message, or the origin. */
    by: "client" | "origin" | null;
    messagesIn: number;
    messagesOut: number;
    /** Message payload bytes client → origin and origin → client. */
    bytesIn: number;
    bytesOut: number;
    /** From the 200 to the end. */
    ms: number;
    /**
     * Most origin → client bytes held at once: the check runs once a message is queued, so at
     * most 2 × max_ws_message + 65,536 plus that one message.
     */
    peakHeld: number;
  };
  /** A stream opened (emitted only with access lines: each is followed by one `request`). */
  stream_open: { sessionId: string; stream: number };
  /** One request on a stream, when its stream ends (the access log line). */
  request: {
    sessionId: string;
    stream: number;
    method: string;
    /** Route table index as a string ("0", "1", ...), "none" (403: no route), "gateway". */
    route: string;
    status: number;
    /** `pqgate-error` of a gateway-made response, else null. */
    gatewayError: string | null;
    /** Request body bytes received from the client; response body bytes sent to it. */
    bytesIn: number;
    bytesOut: number;
    /** HEADERS received → stream done. */
    ms: number;
    /** Forward start → origin response headers; null when no origin was called. */
    originMs: number | null;
    /** How the stream ended: "complete", "reset" (client RESET_STREAM or gateway reset), "closed". */
    outcome: "complete" | "reset" | "closed";
    /** PRIVATE: request authority and path + query. */
    authority: string | null;
    path: string | null;
    /** PRIVATE. */
    clientAddress: string | null;
    /**
     * The client authentication method whose identity the origin was told of (the route's
     * identity headers, src/proxy/auth-policy.ts), else null. Never a credential; the subject
     * is on the channel's `auth` line (same sessionId).
     */
    authMethod: string | null;
  };
  /**
   * A client authentication attempt was answered (docs/client-auth.md): an AUTH frame's result,
   * or a psk channel's identity at the handshake. Never a credential. `subject` (the user name,
   * token `sub` or PSK identity) is PRIVATE; on failures it is null.
   */
  auth: {
    sessionId: string;
    method: "password" | "token" | "psk";
    /** "ok" or the AUTH_RESULT reason (PROTOCOL.md §6.8). */
    result:
      | "ok"
      | "bad_credentials"
      | "token_expired"
      | "token_invalid"
      | "busy"
      | "rate_limited"
      | "method_not_enabled";
    subject: string | null;
    retryAfterMs: number;
    /** AUTH received → AUTH_RESULT sent (0 for psk). */
    ms: number;
  };
  /** Work refused before it cost much (see REFUSAL_REASONS); every one, not rate limited. */
  refused: { reason: RefusalReason; status: number };
  /** The crypto backends chosen (names only). */
  crypto: CryptoBackendReport;
  // ---- diagnostics of the session (src/tunnel) ----
  request_rejected: { sessionId: string; stream: number; status: number; reason: string };
  handler_error: { sessionId: string; stream: number; error: string };
  response_body_error: { sessionId: string; stream: number; error: string };
  session_error: {
    sessionId: string | null;
    code: ErrorCode;
    closeCode: number;
    state: string;
    detail: string;
  };
  pong_dropped: { sessionId: string; reason: string };
  session_resumed: {
    sessionId: string;
    lostStreams: number;
    idleMs: number;
    pingOutstanding: boolean;
  };
  // ---- gateway and transports ----
  "gateway.no_transport": Record<string, never>;
  "transport.rate_limited": { limit: string; open: number };
  "transport.overloaded": { limit: string; sockets: number; handshakesInFlight: number };
  "transport.listen_failed": { message: string };
  /** Deno Deploy entry: listening (before any gateway event). */
  "gateway.listening": { url: string; channel: string };
  /** A graceful shutdown started draining `channels` open channels (docs/operations.md). */
  "transport.draining": { channels: number; deadlineMs: number };
  /** The drain ended: `cut` channels were still open at the deadline and closed 1001 then. */
  "transport.drained": { channels: number; cut: number; ms: number };
  /** SIGHUP / POST /-/reload: the new configuration is live (ok) or refused (the old one kept). */
  "gateway.reload": {
    ok: boolean;
    /** The live key ids after it (the old ones when refused). */
    keyIds: string[];
    /** Why it was refused (names the file and setting, never key material), else null. */
    error: string | null;
    /** The file a refusal is about (config or key file); on success the config file. */
    file: string | null;
    /** The setting a refusal is about (e.g. `routes[0].origin`), when known. */
    setting: string | null;
    /** Changed settings that only a restart applies (none of them was applied). */
    restartOnly: string[];
  };
  "cf.attachment_invalid": { error: string };
  "cf.resume_failed": { error: string };
  "cf.websocket_close": { code: number; live: boolean };
  "cf.resumed": { object: string };
  "cf.session_error": { error: string };
  /** The Worker's own lines, written before (or without) a gateway. */
  "cf.warmup_failed": { error: string };
  "cf.startup_failed": { error: string };
  "cf.config_error": { message: string };
};

export type EventName = keyof EventFields;

/** Each event's log level: the one table a log writer filters by. */
export const EVENT_LEVELS: Readonly<Record<EventName, LogLevel>> = Object.freeze({
  handshake: "debug",
  channel_open: "info",
  channel_close: "info",
  stream_open: "debug",
  request: "info",
  websocket: "info",
  refused: "debug",
  auth: "info",
  crypto: "info",
  request_rejected: "debug",
  handler_error: "warn",
  response_body_error: "warn",
  session_error: "debug",
  pong_dropped: "warn",
  session_resumed: "info",
  "gateway.no_transport": "error",
  "transport.rate_limited": "warn",
  "transport.overloaded": "warn",
  "transport.listen_failed": "error",
  "gateway.listening": "info",
  "transport.draining": "info",
  "transport.drained": "info",
  "gateway.reload": "info",
  "cf.attachment_invalid": "warn",
  "cf.resume_failed": "warn",
  "cf.websocket_close": "debug",
  "cf.resumed": "debug",
  "cf.session_error": "error",
  "cf.warmup_failed": "error",
  "cf.startup_failed": "error",
  "cf.config_error": "error",
});

/** Fields that hold user data: written only when the operator enabled them. */
export const PRIVATE_FIELDS: ReadonlySet<string> = new Set([
  "authority",
  "path",
  "clientAddress",
  "subject",
]);

/**
 * The sink: called synchronously, must not throw (callers guard anyway). `wants(event)`, when
 * present, says whether an event is consumed at all; the session asks it once per channel for
 * "request", so a sink that drops access lines costs no allocation per request.
 */
export type EventLog = (<E extends EventName>(event: E, fields: EventFields[E]) => void) & {
  wants?: (event: EventName) => boolean;
};

/**
 * What the request handler adds to its stream's access line (the third RequestHandler argument,
 * given only when the sink wants "request"): the route, the origin's time to response headers,
 * and the request target (private: written only when enabled).
 */
export type AccessNote = {
  route: string;
  originMs: number | null;
  authority: string | null;
  path: string | null;
  authMethod: string | null;
};

/** Emits through `log`; a throwing sink never breaks the caller. */
export function emit<E extends EventName>(
  log: EventLog | undefined,
  event: E,
  fields: EventFields[E],
): void {
  if (log === undefined) return;
  try {
    log(event, fields);
  } catch { /* observation never breaks the gateway */ }
}

/** True when `log` consumes `event` (a sink without `wants` consumes everything). */
export function wants(log: EventLog | undefined, event: EventName): boolean {
  if (log === undefined) return false;
  try {
    return log.wants ? log.wants(event) : true;
  } catch {
    return false;
  }
}

/** Several sinks as one; `wants` is the union of theirs. Undefined sinks are skipped. */
export function teeLogs(...sinks: (EventLog | undefined)[]): EventLog | undefined {
  const list = sinks.filter((s): s is EventLog => s !== undefined);
  if (list.length === 0) return undefined;
  if (list.length === 1) return list[0];
  const tee: EventLog = (event, fields) => {
    for (const s of list) emit(s, event, fields);
  };
  tee.wants = (event) => list.some((s) => wants(s, event));
  return tee;
}

/** The crypto backends a gateway chose: names only, never key material. */
export type CryptoBackendReport = {
  mode: "auto" | "noble";
  /** ML-KEM-768 implementation used by gateway handshakes. */
  mlkem: string;
  x25519: string;
  sha3: string;
  /** AEAD per suite name. */
  aead: Record<string, string>;
  /** One line for a start banner, e.g. "ML-KEM: WebCrypto (native), X25519: node:crypto, ...". */
  summary: string;
  /** Native candidates that were not used, with the reason. */
  fallbacks: string[];
  /** Milliseconds the selection took (0 for "noble"). */
  ms: number;
};
