/**
 * The Deno transport: one ServerSession per WebSocket (session-driver.ts maps socket events
 * onto the session). Two servers:
 *
 * - `serveDeno(...)` (default, `server: "node"`): node:http under Deno with the `ws` package
 *   (node-http.ts). Messages are bounded at the frame header (MAX_CLIENT_HELLO_LEN before the
 *   ServerHello, MAX_RECORD_LEN after; larger → 1009 before the payload is buffered), every close
 *   is bounded by `closeTimeoutMs` with input drained meanwhile so the close code reaches the
 *   client (ws-lifecycle.ts), request headers by `headersTimeoutMs`, and sockets count until
 *   their TCP connection is gone.
 * - `serveDeno({ server: "deno" })` and `denoTransport()` (for a user's own `Deno.serve`, Deno
 *   Deploy): `Deno.upgradeWebSocket` (deno-upgrade.ts), for hosts where node:http cannot listen.
 *   Residual risks there: Deno buffers messages up to 64 MiB and has no close timeout.
 *
 * Both admit upgrades BEFORE upgrading (admission.ts): per process `maxSockets` and
 * `maxHandshakesInFlight` (→ HTTP 503, `retry-after: 1`), per client address
 * `maxChannelsPerAddress` and `maxHandshakesPerAddressPerMinute` (→ HTTP 429 with
 * `retry-after`); IPv6 clients per /64. A refused request gets no WebSocket at all; pqgate clients
 * on the `ws` package or Deno report the status (ConnectError.status), browsers only a failed
 * connection. Abort / signal: every session.shutdown() (clients see 1001), then the server stops.
 * Plain requests (key configuration, healthz, demo page) go to the Hono app with the env
 * `{ remoteAddr, [UPGRADE_ENV_KEY]: upgrade }` (http-bridge.ts on the node server).
 */
import type { Gateway, Upgrader } from "../../gateway/create-gateway.ts";
import { UPGRADE_ENV_KEY } from "../../gateway/create-gateway.ts";
import {
  Admission,
  type AdmissionLimits,
  DEFAULT_MAX_CHANNELS_PER_ADDRESS,
  DEFAULT_MAX_HANDSHAKES_IN_FLIGHT,
  DEFAULT_MAX_HANDSHAKES_PER_ADDRESS_PER_MINUTE,
  DEFAULT_MAX_SOCKETS,
  validateCount,
} from "./admission.ts";
import { denoUpgrader, type DenoUpgradeState } from "./deno-upgrade.ts";
import { serveNodeHttp } from "./node-http.ts";

export {
  addressKey,
  DEFAULT_MAX_CHANNELS_PER_ADDRESS,
  DEFAULT_MAX_HANDSHAKES_IN_FLIGHT,
  DEFAULT_MAX_HANDSHAKES_PER_ADDRESS_PER_MINUTE,
  DEFAULT_MAX_SOCKETS,
} from "./admission.ts";

/** Default `closeTimeoutMs`: from the gateway's close to the TCP connection destroyed. */
export const DEFAULT_CLOSE_TIMEOUT_MS = 2_000;
/** Default `headersTimeoutMs`: from TCP accept (or the previous response) to complete headers. */
export const DEFAULT_HEADERS_TIMEOUT_MS = 5_000;

/** Sessions of one transport, so they can all be shut down together. */
export interface DenoTransport {
  /** The upgrade hook: pass as `createGateway({ upgrade })`, or let `serveDeno` inject it. */
  readonly upgrade: Upgrader;
  /** Upgraded sockets not yet gone (handshaking, established or closing). */
  readonly sessionCount: number;
  /** Upgraded sockets whose session is not established yet. */
  readonly handshakesInFlight: number;
  /** Client addresses the per-address limits currently remember (for tests and metrics). */
  readonly trackedAddresses: number;
  /**
   * Graceful shutdown: every session's `shutdown()` (CLOSE frame, then WebSocket close 1001),
   * then waits up to `graceMs` for the sockets to close. New upgrades are refused with 503.
   */
  shutdown(graceMs?: number): Promise<void>;
}

export interface DenoTransportOptions {
  /**
   * Open channels (sockets handshaking, established or closing) per client address; more → the
   * upgrade is refused with HTTP 429. 0 = no limit. Default 256. Behind a reverse proxy every
   * client has the proxy's address: raise it or set 0 there.
   */
  maxChannelsPerAddress?: number;
  /**
   * New channels (each a handshake) per client address per minute, as a token bucket of this
   * size refilled evenly (a burst of this many, then one per 60/N s); more → HTTP 429.
   * 0 = no limit. Default 600.
   */
  maxHandshakesPerAddressPerMinute?: number;
  /** Upgraded sockets per process (open or closing); more → HTTP 503. 0 = no limit. Default 10,000. */
  maxSockets?: number;
  /** Sockets upgraded but not yet established, per process; more → HTTP 503. 0 = no limit. Default 1,000. */
  maxHandshakesInFlight?: number;
  /** Structured log (e.g. the gateway's); refusals are logged at most once a minute per address. */
  log?: (event: string, fields?: Record<string, unknown>) => void;
}

export interface ServeDenoOptions extends Omit<DenoTransportOptions, "log"> {
  gateway: Gateway;
  port?: number;
  hostname?: string;
  /** Aborting it shuts the server down gracefully. */
  signal?: AbortSignal;
  /** Also shut down gracefully on SIGINT / SIGTERM (the start command sets this). */
  handleSignals?: boolean;
  /**
   * Serve this fetch handler instead of `gateway.app` (e.g. a parent Hono app that mounts the
   * gateway with `parent.route("/pq", gateway.app)`). It receives the same env as the gateway.
   */
  fetch?: (request: Request, env: DenoGatewayEnv) => Response | Promise<Response>;
  onListen?: (addr: Deno.NetAddr) => void;
  /**
   * "node" (default): node:http + ws, with every bound above. "deno": Deno.serve +
   * Deno.upgradeWebSocket, only where node:http cannot listen (no frame-header message limit, no
   * close timeout; see deno-upgrade.ts).
   */
  server?: "node" | "deno";
  /**
   * After the gateway (or ws, or the peer) starts a close: input is drained for half of it, then
   * the TCP connection is ended (FIN), and destroyed at this bound. Also the linger of a refused
   * upgrade's socket. 100..60,000 ms, default 2,000. "node" server only.
   */
  closeTimeoutMs?: number;
  /**
   * From TCP accept (or the end of the previous response) to the complete request headers; past
   * it the connection is destroyed. 100..60,000 ms, default 5,000. "node" server only.
   */
  headersTimeoutMs?: number;
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

function admissionLimits(o: DenoTransportOptions): AdmissionLimits {
  return {
    maxChannelsPerAddress: validateCount(
      "maxChannelsPerAddress",
      o.maxChannelsPerAddress,
      DEFAULT_MAX_CHANNELS_PER_ADDRESS,
    ),
    maxHandshakesPerAddressPerMinute: validateCount(
      "maxHandshakesPerAddressPerMinute",
      o.maxHandshakesPerAddressPerMinute,
      DEFAULT_MAX_HANDSHAKES_PER_ADDRESS_PER_MINUTE,
    ),
    maxSockets: validateCount("maxSockets", o.maxSockets, DEFAULT_MAX_SOCKETS),
    maxHandshakesInFlight: validateCount(
      "maxHandshakesInFlight",
      o.maxHandshakesInFlight,
      DEFAULT_MAX_HANDSHAKES_IN_FLIGHT,
    ),
  };
}

function validateMs(name: string, v: unknown, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 100 || v > 60_000) {
    throw new TypeError(
      `serveDeno: options.${name} must be an integer from 100 to 60000 (ms), got ${
        JSON.stringify(v)
      }`,
    );
  }
  return v;
}

/** A transport's public face: its upgrade hook, its admission counters and its shutdown. */
function transportOf(
  admission: Admission,
  upgrade: Upgrader,
  shutdown: (graceMs?: number) => Promise<void>,
): DenoTransport {
  return {
    upgrade,
    get sessionCount() {
      return admission.sockets;
    },
    get handshakesInFlight() {
      return admission.handshakesInFlight;
    },
    get trackedAddresses() {
      return admission.trackedAddresses;
    },
    shutdown,
  };
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
  const { gateway } = options;
  if (!gateway || typeof gateway.app?.fetch !== "function") {
    throw new TypeError("serveDeno: options.gateway must be a gateway from createGateway()");
  }
  const kind = options.server ?? "node";
  if (kind !== "node" && kind !== "deno") {
    throw new TypeError(
      `serveDeno: options.server must be "node" or "deno", got ${JSON.stringify(kind)}`,
    );
  }
  const limits = admissionLimits(options);
  const closeTimeoutMs = validateMs(
    "closeTimeoutMs",
    options.closeTimeoutMs,
    DEFAULT_CLOSE_TIMEOUT_MS,
  );
  const headersTimeoutMs = validateMs(
    "headersTimeoutMs",
    options.headersTimeoutMs,
    DEFAULT_HEADERS_TIMEOUT_MS,
  );
  const handler = options.fetch ??
    ((req: Request, env: DenoGatewayEnv) => gateway.app.fetch(req, env));
  const hostname = options.hostname ?? "127.0.0.1";
  const log = gateway.sessionConfig?.log;

  let transport: DenoTransport;
  let addr: Deno.NetAddr;
  let finished: Promise<void>;
  let stopServer: () => Promise<void>;
  if (kind === "deno") {
    transport = denoTransport({ ...limits, log });
    const server = Deno.serve(
      {
        port: options.port ?? 8787,
        hostname,
        onListen: (a) => options.onListen?.(a as Deno.NetAddr),
      },
      (req, info) =>
        handler(req, { remoteAddr: info.remoteAddr, [UPGRADE_ENV_KEY]: transport.upgrade }),
    );
    addr = server.addr as Deno.NetAddr;
    finished = server.finished;
    stopServer = async () => {
      await transport.shutdown();
      await server.shutdown();
    };
  } else {
    // node:http binds asynchronously (before any I/O, on the next tick); the probe gives the
    // address now and throws Deno.errors.AddrInUse now, as Deno.serve does.
    addr = probeAddress(hostname, options.port ?? 8787);
    const admission = new Admission(limits, log);
    const node = serveNodeHttp({
      port: addr.port,
      hostname: addr.hostname,
      log,
      fetch: (req, env) => handler(req, env as unknown as DenoGatewayEnv),
      admission,
      closeTimeoutMs,
      headersTimeoutMs,
    });
    const graceMs = 3000;
    transport = transportOf(admission, node.upgrade, (g = graceMs) => node.shutdown(g));
    finished = node.finished;
    stopServer = () => node.shutdown(graceMs);
    queueMicrotask(() => options.onListen?.(addr));
  }

  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  let stopping: Promise<void> | null = null;
  const signals: Deno.Signal[] = options.handleSignals ? ["SIGINT", "SIGTERM"] : [];
  const onSignal = () => void shutdown();
  const shutdown = (): Promise<void> => {
    if (stopping) return stopping;
    stopping = (async () => {
      for (const s of signals) {
        try {
          Deno.removeSignalListener(s, onSignal);
        } catch { /* not supported on this platform */ }
      }
      options.signal?.removeEventListener("abort", onSignal);
      await stopServer();
    })();
    return stopping;
  };
  for (const s of signals) {
    try {
      Deno.addSignalListener(s, onSignal);
    } catch { /* SIGTERM is not available on Windows */ }
  }
  if (options.signal?.aborted) void shutdown();
  else options.signal?.addEventListener("abort", onSignal, { once: true });

  return { addr, url: `http://${host}:${addr.port}`, transport, finished, shutdown };
}
