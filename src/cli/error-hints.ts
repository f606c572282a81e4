/**
 * One line per `pqgate-error` code, printed by `pqgate fetch` under a gateway-made response
 * (docs/configuration.md lists the codes; src/proxy/errors.ts and src/tunnel/error-response.ts
 * define them). A test checks that every code has a line.
 */
export const GATEWAY_ERROR_HINTS: Record<string, string> = {
  bad_request: "the gateway refused the request head or body as malformed (PROTOCOL.md §6.4)",
  forbidden: "the target is not in the gateway's route table",
  auth_required:
    "this route requires client authentication: connect with --user, --token/--token-file or --psk-file",
  auth_method_not_allowed: "this route does not accept the authentication method this channel used",
  method_not_allowed: "the gateway does not tunnel this method (CONNECT, TRACE, TRACK)",
  body_too_large: "the request body is over the gateway's limit",
  headers_too_large: "the request headers are over the gateway's max_header_bytes",
  internal_error: "the gateway failed while handling the request (see its log)",
  bad_gateway: "the gateway could not reach the origin",
  bad_response: "the origin's response could not be carried on the channel",
  origin_headers_too_large: "the origin's response headers do not fit in one HEADERS frame",
  gateway_timeout: "the origin did not answer in time",
  websocket_limit: "too many tunneled WebSockets are open on this channel (docs/websockets.md)",
  websocket_busy: "the gateway holds as many origin WebSockets as it allows: retry later",
};
