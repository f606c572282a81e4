/**
 * `pqgate/deno`: serving the gateway (pqgate/hono's createGateway) on Deno, from a user's app or
 * as the Deno Deploy entry. Deno only: these modules use Deno's globals, node:http and `ws`.
 *
 *   import { createGateway } from "pqgate/hono";
 *   import { serveDeno } from "pqgate/deno";
 *   serveDeno({ gateway: createGateway({ keys }), port: 8000, fetch: parent.fetch });
 *
 * - `serveDeno`: node:http + ws with per-address admission bounds, message bounds at the frame
 *   header and bounded closes (`server: "deno"`: Deno.serve, where node:http cannot listen).
 * - `denoTransport`: the upgrade hook for a user's own `Deno.serve`
 *   (`createGateway({ upgrade: transport.upgrade })`).
 * - `serveFromEnv` / `gatewayFromEnv`: the Deno Deploy entry, configured from PQGATE_* (and
 *   PORT / HOSTNAME); needs only `--allow-net --allow-env`:
 *
 *     import { serveFromEnv } from "pqgate/deno";
 *     serveFromEnv(Deno.env.toObject());
 */
export {
  DEFAULT_CLOSE_TIMEOUT_MS,
  DEFAULT_DRAIN_TIMEOUT_MS,
  DEFAULT_HEADERS_TIMEOUT_MS,
  DEFAULT_MAX_CHANNELS_PER_ADDRESS,
  DEFAULT_MAX_HANDSHAKES_IN_FLIGHT,
  DEFAULT_MAX_HANDSHAKES_PER_ADDRESS_PER_MINUTE,
  DEFAULT_MAX_SOCKETS,
  type DenoGatewayEnv,
  type DenoServer,
  type DenoTransport,
  denoTransport,
  type DenoTransportOptions,
  serveDeno,
  type ServeDenoOptions,
  type ShutdownOptions,
} from "./transport/deno/serve.ts";
/** The origin WebSocket connector over `ws` (docs/websockets.md "Platforms"). */
export { wsOriginWebSocket } from "./transport/node-http/origin-websocket.ts";
export type { GatewayServer, ServerEnv } from "./transport/node-http/gateway-server.ts";
export { gatewayFromEnv, serveFromEnv } from "./transport/deno/deploy.ts";
/** What gatewayFromEnv / serveFromEnv throw for a bad PQGATE_* variable (also in pqgate/hono). */
export { ConfigError } from "./gateway/config.ts";
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
