/**
 * The Deno transport: one ServerSession per WebSocket (session-driver.ts maps socket events
 * onto the session). Two servers:
 *
 * - `serveDeno(...)` (default, `server: "node"`): node:http under Deno with the `ws` package
 *   (../node-http/server.ts). Messages are bounded at the frame header (MAX_CLIENT_HELLO_LEN before the
 *   ServerHello, MAX_RECORD_LEN after; larger → 1009 before the payload is buffered), every close
 *   is bounded by `closeTimeoutMs` with input drained meanwhile so the close code reaches the
 *   client (../node-http/ws-lifecycle.ts), request headers by `headersTimeoutMs`, and sockets count until
 *   their TCP connection is gone.
 * - `serveDeno({ server: "deno" })` and `denoTransport()` (for a user's own `Deno.serve`, Deno
 *   Deploy): `Deno.upgradeWebSocket` (deno-upgrade.ts), for hosts where node:http cannot listen.
 *   Residual risks there: Deno buffers messages up to 64 MiB and has no close timeout.
 *
 * Both admit upgrades BEFORE upgrading (../node-http/admission.ts): per process `maxSockets` and
 * `maxHandshakesInFlight` (→ HTTP 503, `retry-after: 1`), per client address
 * `maxChannelsPerAddress` and `maxHandshakesPerAddressPerMinute` (→ HTTP 429 with
 * `retry-after`); IPv6 clients per /64. A refused request gets no WebSocket at all; pqgate clients
 * on the `ws` package or Deno report the status (ConnectError.status), browsers only a failed
 * connection. Abort / signal: every session.shutdown() (clients see 1001), then the server stops.
 * Plain requests (key configuration, healthz, demo page) go to the Hono app with the env
 * `{ remoteAddr, [UPGRADE_ENV_KEY]: upgrade }` (../node-http/http-bridge.ts on the node server).
 * The node server's options, validation and shutdown are serveNode's too
 * (../node-http/gateway-server.ts); the Deno.serve one is deno-serve.ts. This file only picks
 * the server and learns the address.
 */
import {
  type GatewayServer,
  type GatewayServerOptions,
  type GatewayTransport,
  type ResolvedServeOptions,
  resolveServeOptions,
  type ServerEnv,
  shutdownOnce,
  type StartedServer,
  startNodeHttp,
  type TransportOptions,
} from "../node-http/gateway-server.ts";
import { startDenoServe } from "./deno-serve.ts";

export {
  addressKey,
  DEFAULT_MAX_CHANNELS_PER_ADDRESS,
  DEFAULT_MAX_HANDSHAKES_IN_FLIGHT,
  DEFAULT_MAX_HANDSHAKES_PER_ADDRESS_PER_MINUTE,
  DEFAULT_MAX_SOCKETS,
} from "../node-http/admission.ts";
export {
  DEFAULT_CLOSE_TIMEOUT_MS,
  DEFAULT_DRAIN_TIMEOUT_MS,
  DEFAULT_HEADERS_TIMEOUT_MS,
  type ShutdownOptions,
} from "../node-http/gateway-server.ts";
export { denoTransport } from "./deno-serve.ts";

/** Sessions of one transport, so they can all be shut down together. */
export type DenoTransport = GatewayTransport;

export type DenoTransportOptions = TransportOptions;

export interface ServeDenoOptions extends GatewayServerOptions<DenoGatewayEnv> {
  onListen?: (addr: Deno.NetAddr) => void;
  /**
   * "node" (default): node:http + ws, with every bound above. "deno": Deno.serve +
   * Deno.upgradeWebSocket, only where node:http cannot listen (no frame-header message limit, no
   * close timeout; see deno-upgrade.ts).
   */
  server?: "node" | "deno";
}

/** The Hono `env` serveDeno passes: hono/deno's `remoteAddr`, plus the upgrade hook. */
export type DenoGatewayEnv = ServerEnv<Deno.Addr>;

export type DenoServer = GatewayServer<Deno.NetAddr>;

export function serveDeno(options: ServeDenoOptions): DenoServer {
  const o = resolveServeOptions("serveDeno", options);
  const kind = options.server ?? "node";
  if (kind !== "node" && kind !== "deno") {
    throw new TypeError(
      `serveDeno: options.server must be "node" or "deno", got ${JSON.stringify(kind)}`,
    );
  }
  const { addr, url, transport, finished, stopServer } = kind === "deno"
    ? startDenoServe(o, options.onListen)
    : startNodeOnDeno(o, options.onListen);
  const shutdown = shutdownOnce(stopServer, { ...options, who: "serveDeno" }, {
    add: (s, fn) => Deno.addSignalListener(s, fn),
    remove: (s, fn) => Deno.removeSignalListener(s, fn),
  }, o.drainTimeoutMs);
  return { addr, url, transport, finished, shutdown, drain: shutdown };
}

/**
 * node:http binds asynchronously (before any I/O, on the next tick): a probe binds the port
 * once, synchronously, so the address is known now and Deno.errors.AddrInUse is thrown now, as
 * Deno.serve does.
 */
function startNodeOnDeno(
  o: ResolvedServeOptions<DenoGatewayEnv>,
  onListen?: (addr: Deno.NetAddr) => void,
): StartedServer<Deno.NetAddr> {
  const l = Deno.listen({ hostname: o.hostname, port: o.port });
  const addr = l.addr as Deno.NetAddr;
  l.close();
  const { url, transport, finished, stopServer } = startNodeHttp(o, addr.hostname, addr.port);
  queueMicrotask(() => onListen?.(addr));
  return { addr, url, transport, finished, stopServer };
}
