/**
 * Typed errors of the pqgate client. Each message says what happened and what to do about it.
 * Close codes are those of PROTOCOL.md §9.
 */
import { CLOSE_REASONS, errorCodeForClose } from "../protocol/errors.ts";
import type { CloseInfo } from "../tunnel/client-session.ts";

/** Base class: `instanceof PqgateClientError` catches every error below. */
export class PqgateClientError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "PqgateClientError";
  }
}

/** The gateway's key configuration has no key matching the configured pin (§8). */
export class PinMismatchError extends PqgateClientError {
  constructor(readonly pin: string, readonly offered: string[], origin: string) {
    super(
      `pqgate: no key of the gateway at ${origin} matches the pin ${pin}` +
        (offered.length ? ` (the gateway offers ${offered.join(", ")})` : " (it offers no key)") +
        ". Refusing to connect: check the pin, or the gateway's key rotation; someone may be intercepting the connection.",
    );
    this.name = "PinMismatchError";
  }
}

/**
 * The WebSocket could not be opened, or the key configuration could not be fetched. `status` is
 * the HTTP status the gateway refused the upgrade with (429 rate limited, 503 overloaded, 403
 * origin not allowed, …) where the WebSocket implementation reports it (Deno, the `ws` package);
 * browsers report only a failed connection, so there it is undefined.
 */
export class ConnectError extends PqgateClientError {
  readonly status?: number;
  constructor(message: string, options?: { cause?: unknown; status?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ConnectError";
    if (options?.status !== undefined) this.status = options.status;
  }
}

const UPGRADE_STATUS_TEXT: Record<number, string> = {
  400: "bad request",
  403: "forbidden",
  404: "not found",
  426: "upgrade required",
  429: "rate limited",
  500: "internal error",
  501: "no WebSocket transport",
  503: "overloaded or shutting down",
};

/** "upgrade refused: HTTP 429 (rate limited)": the text of a refused upgrade. */
export function upgradeRefusedText(status: number): string {
  const t = UPGRADE_STATUS_TEXT[status];
  return `upgrade refused: HTTP ${status}${t ? ` (${t})` : ""}`;
}

const HINTS: Record<number, string> = {
  1001: "the gateway is going away; the next request reconnects",
  4000: "the handshake took too long; check the network and retry",
  4001: "this client's protocol version is not supported by the gateway; update the client",
  4002: "no cipher suite in common; check the suites option",
  4003:
    "the gateway no longer has the key this client used; the next attempt fetches its key configuration again",
  4004: "the handshake failed: wrong gateway key, or the connection was tampered with",
  4005: "a record failed authentication: the connection was tampered with or corrupted",
  4006: "a record was replayed or reordered",
  4007: "the session reached its lifetime or key limits; the next request reconnects",
  4008: "the channel was idle too long; the next request reconnects",
  4009: "too many connections or handshakes; retry later",
  4010: "the gateway does not accept anonymous clients; configure a pin",
  4011: "protocol error between client and gateway (a bug or a version mismatch)",
  4012: "the gateway requires an extension this client does not support; update the client",
  4013: "a flow-control or size limit was broken (a bug in one of the peers)",
  4014: "the gateway had an internal error; retry later",
};

function describe(code: number, reason: string): string {
  const name = errorCodeForClose(code);
  const text = reason ||
    (name
      ? CLOSE_REASONS[name]
      : code === 1000
      ? "normal closure"
      : code === 1006
      ? "connection lost"
      : "");
  return text ? `${code} (${text})` : String(code);
}

/** The channel was closed: `code` is the close code, `reason` its text. */
export class ChannelClosedError extends PqgateClientError {
  constructor(readonly code: number, readonly reason: string, readonly byGateway = true) {
    const hint = HINTS[code];
    super(
      `pqgate: channel closed ${byGateway ? "by gateway" : "by client"} with code ${
        describe(code, reason)
      }${hint ? `: ${hint}` : ""}`,
    );
    this.name = "ChannelClosedError";
  }
}

/** The gateway refused the protocol version (close 4001). */
export class VersionRefusedError extends ChannelClosedError {
  constructor(reason: string) {
    super(4001, reason, true);
    this.name = "VersionRefusedError";
  }
}

/** The handshake did not complete in time (local timeout, or the gateway's 4000). */
export class HandshakeTimeoutError extends ChannelClosedError {
  constructor(reason: string, byGateway: boolean) {
    super(4000, reason, byGateway);
    this.name = "HandshakeTimeoutError";
  }
}

/** Why client authentication failed: what `AuthError.reason` says, and what to do about it. */
export type AuthErrorReason =
  | "bad_credentials"
  | "token_expired"
  | "token_invalid"
  | "busy"
  | "rate_limited"
  | "method_not_enabled"
  | "unsupported_by_gateway"
  | "psk_rejected";

const AUTH_HINTS: Record<AuthErrorReason, string> = {
  bad_credentials: "the user name or password is wrong (or the user does not exist)",
  token_expired: "the token has expired; get a new one (a token callback is called again)",
  token_invalid: "the gateway did not accept the token (signature, issuer, audience or not-before)",
  busy: "the gateway is busy verifying other logins; retry after retryAfterMs",
  rate_limited: "too many failed attempts; retry after retryAfterMs",
  method_not_enabled: "the gateway does not accept this authentication method",
  unsupported_by_gateway:
    "the gateway does not support client authentication (it refused the extension with 4012); update the gateway or connect without auth",
  psk_rejected:
    "the handshake failed (4004) with a PSK: the PSK is wrong, OR the gateway does not know this pskId, OR the gateway is not the pinned one; the three cannot be told apart on purpose",
};

/**
 * Client authentication failed (docs/client-auth.md): `connect()` rejects with it when the
 * first AUTH is refused, or when a handshake that asked for authentication failed because of
 * it (`unsupported_by_gateway`: close 4012; `psk_rejected`: close 4004 with a PSK).
 * `retryAfterMs` is the gateway's advice for `busy` and `rate_limited`.
 */
export class AuthError extends PqgateClientError {
  readonly reason: AuthErrorReason;
  readonly retryAfterMs?: number;
  /** The close code, for the two reasons a close carries (4012, 4004). */
  readonly code?: number;
  constructor(reason: AuthErrorReason, options: { retryAfterMs?: number; code?: number } = {}) {
    const retry = options.retryAfterMs ? ` (retry after ${options.retryAfterMs} ms)` : "";
    super(`pqgate: client authentication failed: ${reason}${retry}: ${AUTH_HINTS[reason]}`);
    this.name = "AuthError";
    this.reason = reason;
    if (options.retryAfterMs !== undefined) this.retryAfterMs = options.retryAfterMs;
    if (options.code !== undefined) this.code = options.code;
  }
}

/**
 * The error of a handshake close that authentication explains (`asked`: the client used
 * psk, password or token): 4012 → unsupported_by_gateway; 4004 with a PSK → psk_rejected.
 */
export function authErrorForClose(
  c: CloseInfo,
  asked: "psk" | "password" | "token" | null,
): AuthError | null {
  if (asked === null || c.phase !== "handshake") return null;
  if (c.code === 4012) return new AuthError("unsupported_by_gateway", { code: 4012 });
  if (c.code === 4004 && asked === "psk") return new AuthError("psk_rejected", { code: 4004 });
  return null;
}

/** The error a channel's pending requests fail with when it ends. */
export function errorForClose(c: CloseInfo): Error {
  if (c.code === 4001) return new VersionRefusedError(c.reason);
  if (c.code === 4000) return new HandshakeTimeoutError(c.reason, c.byPeer);
  return new ChannelClosedError(c.code, c.reason, c.byPeer);
}
