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
 * (../node-http/gateway-server.ts).
 */
import type { Upgrader } from "../../gateway/create-gateway.ts";
import { UPGRADE_ENV_KEY } from "../../gateway/create-gateway.ts";
import { Admission } from "../node-http/admission.ts";
import {
  admissionLimits,
  type GatewayServerOptions,
  type GatewayTransport,
  resolveServeOptions,
  shutdownOnce,
  startNodeHttp,
  transportOf,
  type TransportOptions,
} from "../node-http/gateway-server.ts";
import { denoUpgrader, type DenoUpgradeState } from "./deno-upgrade.ts";

export {
  addressKey,
  DEFAULT_MAX_CHANNELS_PER_ADDRESS,
  DEFAULT_MAX_HANDSHAKES_IN_FLIGHT,
  DEFAULT_MAX_HANDSHAKES_PER_ADDRESS_PER_MINUTE,
  DEFAULT_MAX_SOCKETS,
} from "../node-http/admission.ts";
export {
  DEFAULT_CLOSE_TIMEOUT_MS,
  DEFAULT_HEADERS_TIMEOUT_MS,
} from "../node-http/gateway-server.ts";

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
export interface DenoGatewayEnv {
  remoteAddr: Deno.Addr;
  [UPGRADE_ENV_KEY]: Upgrader;
}

export interface DenoServer {
  readonly addr: Deno.NetAddr;
  /** http://host:port (the HTTP base: /.well-known/pqgate, /healthz). */
  readonly url: string;
  readonly transport: DenoTransport;
  /** Resolves when the server has stopped. */
  readonly finished: Promise<void>;
  /** Graceful shutdown (same as aborting `signal`). Idempotent. */
  shutdown(): Promise<void>;
}

/** The `Deno.upgradeWebSocket` transport, for a user's own `Deno.serve` (see deno-upgrade.ts). */
export function denoTransport(options: DenoTransportOptions = {}): DenoTransport {
  const admission = new Admission(admissionLimits(options), options.log);
  const state: DenoUpgradeState = { admission, live: new Map(), stopping: false };
  return transportOf(admission, denoUpgrader(state), async (graceMs = 3000) => {
    state.stopping = true;
    const waits: Promise<void>[] = [];
    for (const h of state.live.values()) {
      waits.push(h.gone);
      h.goAway();
    }
    let t: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all(waits),
      new Promise<void>((r) => (t = setTimeout(r, graceMs))),
    ]);
    clearTimeout(t);
  });
}

/** Binds `port` (0 = any free one) once, synchronously, to learn the address and fail early. */
function probeAddress(hostname: string, port: number): Deno.NetAddr {
  const l = Deno.listen({ hostname, port });
  const addr = l.addr as Deno.NetAddr;
  l.close();
  return addr;
}

export function serveDeno(options: ServeDenoOptions): DenoServer {
  const o = resolveServeOptions("serveDeno", options);
  const kind = options.server ?? "node";
  if (kind !== "node" && kind !== "deno") {
    throw new TypeError(
      `serveDeno: options.server must be "node" or "deno", got ${JSON.stringify(kind)}`,
    );
  }

  let transport: DenoTransport;
  let addr: Deno.NetAddr;
  let url: string;
  let finished: Promise<void>;
  let stopServer: () => Promise<void>;
  if (kind === "deno") {
    transport = denoTransport({ ...o.limits, log: o.log });
    const server = Deno.serve(
      {
        port: o.port,
        hostname: o.hostname,
        onListen: (a) => options.onListen?.(a as Deno.NetAddr),
      },
      (req, info) =>
        o.handler(req, { remoteAddr: info.remoteAddr, [UPGRADE_ENV_KEY]: transport.upgrade }),
    );
    addr = server.addr as Deno.NetAddr;
    url = `http://${
      addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname
    }:${addr.port}`;
    finished = server.finished;
    stopServer = async () => {
      await transport.shutdown();
      await server.shutdown();
    };
  } else {
    // node:http binds asynchronously (before any I/O, on the next tick); the probe gives the
    // address now and throws Deno.errors.AddrInUse now, as Deno.serve does.
    const probed = probeAddress(o.hostname, o.port);
    addr = probed;
    ({ transport, url, finished, stopServer } = startNodeHttp(o, probed.hostname, probed.port));
    queueMicrotask(() => options.onListen?.(probed));
  }

  const shutdown = shutdownOnce(stopServer, options, {
    add: (s, fn) => Deno.addSignalListener(s, fn),
    remove: (s, fn) => Deno.removeSignalListener(s, fn),
  });
  return { addr, url, transport, finished, shutdown };
}
