/**
 * `pqgate/node`: serving the gateway (pqgate/hono's createGateway) on Node 20+.
 *
 *   import { createGateway, gatewayOptionsFromEnv } from "pqgate/hono";
 *   import { serveNode } from "pqgate/node";
 *
 *   const { logOff: _, ...options } = gatewayOptionsFromEnv(process.env);
 *   const server = serveNode({ gateway: createGateway(options), port: 8787, handleSignals: true });
 *
 * The same node:http + ws server, bounds and options as serveDeno's default (`pqgate/deno`):
 * per-address and per-process admission (429 / 503 before the upgrade), the frame-header
 * message limit (1009), `closeTimeoutMs`, `headersTimeoutMs`. The implementation:
 * src/transport/node/serve.ts over src/transport/node-http/.
 */
export {
  DEFAULT_MAX_CHANNELS_PER_ADDRESS,
  DEFAULT_MAX_HANDSHAKES_IN_FLIGHT,
  DEFAULT_MAX_HANDSHAKES_PER_ADDRESS_PER_MINUTE,
  DEFAULT_MAX_SOCKETS,
} from "./transport/node-http/admission.ts";
export {
  DEFAULT_CLOSE_TIMEOUT_MS,
  DEFAULT_DRAIN_TIMEOUT_MS,
  DEFAULT_HEADERS_TIMEOUT_MS,
  type GatewayServer,
  type GatewayTransport,
  type ServerEnv,
  type ShutdownOptions,
} from "./transport/node-http/gateway-server.ts";
/** The origin WebSocket connector over `ws` (docs/websockets.md "Platforms"). */
export { wsOriginWebSocket } from "./transport/node-http/origin-websocket.ts";
export type { RemoteAddr } from "./transport/node-http/http-bridge.ts";
export {
  type NodeAddr,
  type NodeGatewayEnv,
  type NodeGatewayServer,
  serveNode,
  type ServeNodeOptions,
} from "./transport/node/serve.ts";
/**
 * Prometheus metrics (docs/operations.md "Metrics"): the event sink (prom-client, loaded only
 * when called) and its listener (GET /metrics, POST /-/reload).
 */
export {
  createPromMetrics,
  type PromMetrics,
  type PromMetricsOptions,
} from "./transport/observe/prom-metrics.ts";
export {
  type MetricsListener,
  type MetricsListenerOptions,
  startMetricsListener,
} from "./transport/observe/metrics-listener.ts";
