/**
 * `serveNode`: the gateway on Node 20+, on the same node:http + ws server as serveDeno's default
 * (../node-http/: admission before the upgrade → 429 / 503, the frame-header message limit →
 * 1009, `closeTimeoutMs`, `headersTimeoutMs`, sockets counted until their TCP connection is
 * gone). Only what is Node's own is here: the address comes from the bound server (binding is
 * synchronous for an IP address, so `hostname` must be one), signals from `process`.
 */
import net from "node:net";
import type { RemoteAddr } from "../node-http/http-bridge.ts";
import {
  type GatewayServer,
  type GatewayServerOptions,
  resolveServeOptions,
  type ServerEnv,
  shutdownOnce,
  startNodeHttp,
} from "../node-http/gateway-server.ts";

/** The address serveNode listens on. */
export interface NodeAddr {
  hostname: string;
  port: number;
}

/** The Hono `env` serveNode passes: the client's `remoteAddr`, plus the upgrade hook. */
export type NodeGatewayEnv = ServerEnv<RemoteAddr>;

export interface ServeNodeOptions extends GatewayServerOptions<NodeGatewayEnv> {
  /** An IP address (default 127.0.0.1; "0.0.0.0" or "::" for every interface). */
  hostname?: string;
  /** Called once the server listens. */
  onListen?: (addr: NodeAddr) => void;
}

/** `finished` also resolves after a listen failure. */
export interface NodeGatewayServer extends GatewayServer<NodeAddr> {
  /** Resolves once listening; rejects if the port cannot be bound (e.g. EADDRINUSE). */
  readonly listening: Promise<void>;
}

export function serveNode(options: ServeNodeOptions): NodeGatewayServer {
  const o = resolveServeOptions("serveNode", options);
  if (net.isIP(o.hostname) === 0) {
    throw new TypeError(
      `serveNode: options.hostname must be an IP address (e.g. 127.0.0.1, 0.0.0.0, ::), got ${
        JSON.stringify(o.hostname)
      }`,
    );
  }
  // Bound synchronously (server.ts), unless the bind failed: then `listening` rejects.
  const { node, addr, url, transport, finished, stopServer } = startNodeHttp(o, o.hostname, o.port);
  void node.listening.then(() => options.onListen?.(addr), () => {});
  const shutdown = shutdownOnce(stopServer, { ...options, who: "serveNode" }, {
    add: (s, fn) => process.on(s, fn),
    remove: (s, fn) => process.off(s, fn),
  }, o.drainTimeoutMs);
  return { addr, url, transport, listening: node.listening, finished, shutdown, drain: shutdown };
}
