/** pqgate client: a fetch-shaped channel to a pqgate gateway over a post-quantum handshake. */
export { Channel, type ClientAuthOption, connect, type ConnectOptions } from "./channel.ts";
export {
  AuthError,
  type AuthErrorReason,
  ChannelClosedError,
  ConnectError,
  HandshakeTimeoutError,
  PinMismatchError,
  PqgateClientError,
  VersionRefusedError,
} from "./errors.ts";
export { type HandshakeInfo, StreamResetError } from "../tunnel/client-session.ts";
export {
  fetchPinnedKey,
  type GatewayKey,
  KEY_CONFIG_PATH,
  keyConfigUrl,
  selectPinnedKey,
} from "./key-config.ts";
export type { WebSocketConstructor, WebSocketLike } from "./websocket-socket.ts";
export {
  checkServiceWorkerConfig,
  encodeServiceWorkerConfig,
  matchesRequest,
  type MatchRule,
  type ServiceWorkerConfig,
} from "./service-worker-config.ts";
export type { PqgateWorkerState } from "./service-worker-messages.ts";
export {
  type PqgateRegistration,
  registerPqgate,
  type RegisterPqgateOptions,
  ServiceWorkerUnavailableError,
} from "./service-worker-register.ts";
export { PqgateWebSocket, type WebSocketGatewayError } from "./pqgate-websocket.ts";
export type { WebSocketCloseEvent } from "./websocket-events.ts";
