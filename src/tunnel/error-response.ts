/**
 * Responses the gateway session makes itself on a stream (PROTOCOL.md §6.4, §9: a per-request
 * failure is an HTTP response on the stream, never a close). They have the shape of the
 * proxy's gateway errors (src/proxy/errors.ts): header `pqgate-error: <code>` and body
 * `{"error": "<code>", "status": <n>}`, so a client tells every gateway-made response from an
 * origin's by the header alone. The codes are defined here because src/tunnel sits below
 * src/proxy and does not import it; a code used by both layers means the same and has the same
 * status in both.
 */
import { utf8Encode } from "../protocol/bytes.ts";
import type { ResponseHead } from "./bhttp.ts";

/** The header that marks a gateway-made response (the proxy strips it from origins' responses). */
export const HEADER_ERROR = "pqgate-error";

export const SESSION_ERRORS = {
  /** The request head is malformed or names a target that cannot be mapped (§6.4). */
  bad_request: 400,
  /** CONNECT, TRACE and TRACK are never forwarded. */
  method_not_allowed: 405,
  /** content-length, or the body received so far, is over max_body_bytes. */
  body_too_large: 413,
  /** The request head is over max_header_bytes or has too many fields. */
  headers_too_large: 431,
  /** The request handler threw or rejected. */
  internal_error: 500,
  /** The request handler resolved to something that is not an encodable response. */
  bad_response: 502,
  /** The response head does not fit in one HEADERS frame. */
  origin_headers_too_large: 502,
} as const;

export type SessionErrorCode = keyof typeof SESSION_ERRORS;

/** Head and body of the session-made error response for `code`. */
export function sessionError(code: SessionErrorCode): { head: ResponseHead; body: Uint8Array } {
  const status = SESSION_ERRORS[code];
  return {
    head: {
      status,
      headers: [
        ["content-type", "application/json"],
        ["cache-control", "no-store"],
        // A client may hand the Response to a browser (a service worker): never sniffed.
        ["x-content-type-options", "nosniff"],
        [HEADER_ERROR, code],
      ],
    },
    body: utf8Encode(JSON.stringify({ error: code, status })),
  };
}
