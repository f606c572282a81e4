/**
 * Gateway-generated error responses (PROTOCOL.md §9: per-request failures are HTTP responses
 * on the stream). Body `{"error": code, "status": N}` and header `pqgate-error: code`, so a
 * client can tell a gateway error from an origin's (origins' `pqgate-*` headers are stripped).
 */
import { HEADER_ERROR } from "./headers.ts";

export const GATEWAY_ERRORS = {
  bad_request: 400,
  /** The route requires client authentication and the channel has none (auth-policy.ts). */
  auth_required: 401,
  forbidden: 403,
  /** The channel's identity uses a method the route does not accept. */
  auth_method_not_allowed: 403,
  method_not_allowed: 405,
  body_too_large: 413,
  headers_too_large: 431,
  /** Too many tunneled WebSockets open on this channel (PROTOCOL.md §6.9; reference: 16). */
  websocket_limit: 429,
  bad_gateway: 502,
  origin_headers_too_large: 502,
  /** The gateway holds as many origin WebSockets as it allows (retry-after: 1). */
  websocket_busy: 503,
  gateway_timeout: 504,
} as const;

export type GatewayErrorCode = keyof typeof GATEWAY_ERRORS;

export function gatewayError(code: GatewayErrorCode, extra?: Record<string, string>): Response {
  const status = GATEWAY_ERRORS[code];
  return new Response(JSON.stringify({ error: code, status }), {
    status,
    headers: {
      "content-type": "application/json",
      "cache-control": "no-store",
      // A client may hand the Response to a browser (a service worker): never sniffed.
      "x-content-type-options": "nosniff",
      [HEADER_ERROR]: code,
      ...extra,
    },
  });
}

/** True when a response was produced by the gateway rather than the origin. */
export function isGatewayError(res: Response): boolean {
  return res.headers.has(HEADER_ERROR);
}
