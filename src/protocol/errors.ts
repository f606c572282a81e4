/**
 * Stable error codes of pqgate/1 and their WebSocket close codes (PROTOCOL.md §9).
 * This table is the ONLY place error codes are mapped to close codes.
 */

export const CLOSE_CODES = {
  handshake_timeout: 4000,
  unsupported_version: 4001,
  no_common_suite: 4002,
  unknown_key_id: 4003,
  handshake_failed: 4004,
  record_auth_failed: 4005,
  sequence_error: 4006,
  rehandshake_required: 4007,
  idle_timeout: 4008,
  rate_limited: 4009,
  unauthorized: 4010,
  protocol_error: 4011,
  unsupported_extension: 4012,
  limit_exceeded: 4013,
  internal_error: 4014,
} as const;

export type ErrorCode = keyof typeof CLOSE_CODES;
export type CloseCode = (typeof CLOSE_CODES)[ErrorCode];

/** Normal closure and "going away" (graceful shutdown), RFC 6455 §7.4.1. */
export const CLOSE_NORMAL = 1000;
export const CLOSE_GOING_AWAY = 1001;

/**
 * Short, fixed, secret-free reason strings sent in close frames. Peer-triggered crypto
 * failures are deliberately uniform: the text never says which check failed.
 */
export const CLOSE_REASONS: Record<ErrorCode, string> = {
  handshake_timeout: "handshake timeout",
  unsupported_version: "unsupported version",
  no_common_suite: "no common suite",
  unknown_key_id: "unknown key id",
  handshake_failed: "handshake failed",
  record_auth_failed: "record authentication failed",
  sequence_error: "sequence error",
  rehandshake_required: "rehandshake required",
  idle_timeout: "idle timeout",
  rate_limited: "rate limited",
  unauthorized: "unauthorized",
  protocol_error: "protocol error",
  unsupported_extension: "unsupported critical extension",
  limit_exceeded: "limit exceeded",
  internal_error: "internal error",
};

/** The one error type the protocol core throws. `message` never contains secret material. */
export class PqgateError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, detail?: string) {
    super(detail ? `${code}: ${detail}` : code);
    this.name = "PqgateError";
    this.code = code;
  }
  get closeCode(): CloseCode {
    return CLOSE_CODES[this.code];
  }
}

/** Close code for an error code. */
export function closeCodeFor(code: ErrorCode): CloseCode {
  return CLOSE_CODES[code];
}

/** Reverse map: the error code a close code stands for, or undefined for non-pqgate codes. */
export function errorCodeForClose(closeCode: number): ErrorCode | undefined {
  for (const [k, v] of Object.entries(CLOSE_CODES)) if (v === closeCode) return k as ErrorCode;
  return undefined;
}

export function isPqgateError(e: unknown): e is PqgateError {
  return e instanceof PqgateError;
}
