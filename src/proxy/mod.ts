/** Public API of the forwarding layer (docs/forwarding.md). Knows no crypto. */
export {
  compileRoutes,
  matchRoute,
  normalizeAuthority,
  pathProblem,
  RouteConfigError,
  SERVICE_HOST_SUFFIX,
} from "./routes.ts";
export type {
  MatchInput,
  OriginTarget,
  Route,
  RouteConfig,
  RouteMatch,
  RouteTable,
} from "./routes.ts";
export {
  clientResponseHeaders,
  fieldSectionBytes,
  forwardedFor,
  HEADER_ERROR,
  HEADER_GATEWAY_AUTH,
  HEADER_SESSION,
  HEADER_SUITE,
  HOP_BY_HOP,
  originRequestHeaders,
  parseClientAddress,
  RUNTIME_DECODED_ENCODINGS,
  stripHopByHop,
} from "./headers.ts";
export type { OriginHeaderOptions } from "./headers.ts";
export { GATEWAY_ERRORS, gatewayError, isGatewayError } from "./errors.ts";
export type { GatewayErrorCode } from "./errors.ts";
export { DEFAULT_MAX_RESPONSE_HEADER_BYTES, forward } from "./forward.ts";
export type { ForwardContext, ForwardRequest } from "./forward.ts";
export { serviceLookup } from "./service-fetch.ts";
export type { FetchHandler, ServiceLookup } from "./service-fetch.ts";
export { BUFFERED_BODY_MAX, fixedLengthBody } from "./fixed-length-body.ts";
export { platformOriginFetch } from "./origin-fetch.ts";
