/**
 * What serveDeno's node:http server and serveNode share, runtime-neutral (no Deno, no process
 * globals): the options and their validation, the gateway served by server.ts with admission
 * (admission.ts), the transport's public face, and shutdown on abort or signals. Each runtime's
 * entry (src/transport/deno/serve.ts, src/transport/node/serve.ts) adds only how it learns the
 * address and listens for signals.
 */
import type { Gateway, UPGRADE_ENV_KEY, Upgrader } from "../../gateway/create-gateway.ts";
import type { GatewayLog } from "../../gateway/options.ts";
import {
  Admission,
  type AdmissionLimits,
  DEFAULT_MAX_CHANNELS_PER_ADDRESS,
  DEFAULT_MAX_HANDSHAKES_IN_FLIGHT,
  DEFAULT_MAX_HANDSHAKES_PER_ADDRESS_PER_MINUTE,
  DEFAULT_MAX_SOCKETS,
  validateCount,
} from "./admission.ts";
import { GRACE_MS } from "./live-sockets.ts";
import { type NodeServer, serveNodeHttp } from "./server.ts";

/** Default `closeTimeoutMs`: from the gateway's close to the TCP connection destroyed. */
export const DEFAULT_CLOSE_TIMEOUT_MS = 2_000;
/** Default `headersTimeoutMs`: from TCP accept (or the previous response) to complete headers. */
export const DEFAULT_HEADERS_TIMEOUT_MS = 5_000;
/** Default `drainTimeoutMs`: how long a graceful shutdown lets open streams finish. */
export const DEFAULT_DRAIN_TIMEOUT_MS = 10_000;
/** The largest `drainTimeoutMs` (SECURITY.md: a shutdown is bounded). */
export const MAX_DRAIN_TIMEOUT_MS = 600_000;

/** How a graceful shutdown ends open channels. */
export interface ShutdownOptions {
  /**
   * How long open streams may run on (new streams are refused, each channel closes 1001 once
   * its streams completed); past it the rest is cut with 1001. 0: cut at once. Default: the
   * server's `drainTimeoutMs`.
   */
  deadlineMs?: number;
}

/** Sessions of one transport, so they can all be shut down together. */
export interface GatewayTransport {
  /** The upgrade hook: pass as `createGateway({ upgrade })`, or let the server inject it. */
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
   * With `drainMs` > 0 the sessions drain first (their open streams finish, up to `drainMs`).
   */
  shutdown(graceMs?: number, drainMs?: number): Promise<void>;
}

export interface TransportOptions {
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
  log?: GatewayLog;
}

/** The Hono `env` a server of the gateway passes: the client's `remoteAddr`, plus the upgrade hook. */
export interface ServerEnv<Addr> {
  remoteAddr: Addr;
  [UPGRADE_ENV_KEY]: Upgrader;
}

/** What serveDeno and serveNode return (`Addr`: the runtime's address type). */
export interface GatewayServer<Addr> {
  readonly addr: Addr;
  /** http://host:port (the HTTP base: /.well-known/pqgate, /healthz). */
  readonly url: string;
  readonly transport: GatewayTransport;
  /** Resolves when the server has stopped. */
  readonly finished: Promise<void>;
  /**
   * Graceful shutdown (same as aborting `signal`, or SIGINT / SIGTERM with `handleSignals`):
   * upgrades are refused with 503 (`retry-after: 1`, `connection: close`) and /readyz answers
   * 503 while open channels drain (new streams REFUSED, CLOSE 1001 once their streams
   * completed or at `deadlineMs`), then the server stops listening. Idempotent: a second call
   * returns the first one's promise. docs/operations.md "Drain".
   */
  shutdown(options?: ShutdownOptions): Promise<void>;
  /** Same as `shutdown(options)`. */
  drain(options?: ShutdownOptions): Promise<void>;
}

/** The options of a server of the gateway; `Env` is the Hono env its fetch handler receives. */
export interface GatewayServerOptions<Env> extends Omit<TransportOptions, "log"> {
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
  fetch?: (request: Request, env: Env) => Response | Promise<Response>;
  /**
   * After the gateway (or ws, or the peer) starts a close: input is drained for half of it, then
   * the TCP connection is ended (FIN), and destroyed at this bound. Also the linger of a refused
   * upgrade's socket. 100..60,000 ms, default 2,000. (serveDeno: "node" server only.)
   */
  closeTimeoutMs?: number;
  /**
   * From TCP accept (or the end of the previous response) to the complete request headers; past
   * it the connection is destroyed. 100..60,000 ms, default 5,000. (serveDeno: "node" server only.)
   */
  headersTimeoutMs?: number;
  /**
   * Graceful shutdown's drain deadline (ShutdownOptions `deadlineMs`'s default): 0..600,000
   * ms, default 10,000.
   */
  drainTimeoutMs?: number;
}

/** Options checked and defaulted (throws TypeError naming `who` and the option). */
export interface ResolvedServeOptions<Env> {
  who: string;
  gateway: Gateway;
  limits: AdmissionLimits;
  closeTimeoutMs: number;
  headersTimeoutMs: number;
  drainTimeoutMs: number;
  handler: (request: Request, env: Env) => Response | Promise<Response>;
  hostname: string;
  port: number;
  log?: GatewayLog;
}

function checkGateway(who: string, gateway: Gateway | undefined): void {
  if (!gateway || typeof gateway.app?.fetch !== "function") {
    throw new TypeError(`${who}: options.gateway must be a gateway from createGateway()`);
  }
}

export function admissionLimits(o: TransportOptions, who = "serveDeno"): AdmissionLimits {
  return {
    maxChannelsPerAddress: validateCount(
      "maxChannelsPerAddress",
      o.maxChannelsPerAddress,
      DEFAULT_MAX_CHANNELS_PER_ADDRESS,
      who,
    ),
    maxHandshakesPerAddressPerMinute: validateCount(
      "maxHandshakesPerAddressPerMinute",
      o.maxHandshakesPerAddressPerMinute,
      DEFAULT_MAX_HANDSHAKES_PER_ADDRESS_PER_MINUTE,
      who,
    ),
    maxSockets: validateCount("maxSockets", o.maxSockets, DEFAULT_MAX_SOCKETS, who),
    maxHandshakesInFlight: validateCount(
      "maxHandshakesInFlight",
      o.maxHandshakesInFlight,
      DEFAULT_MAX_HANDSHAKES_IN_FLIGHT,
      who,
    ),
  };
}

function validateMs(who: string, name: string, v: unknown, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 100 || v > 60_000) {
    throw new TypeError(
      `${who}: options.${name} must be an integer from 100 to 60000 (ms), got ${JSON.stringify(v)}`,
    );
  }
  return v;
}

function validateDrainMs(who: string, name: string, v: unknown): number {
  if (v === undefined) return DEFAULT_DRAIN_TIMEOUT_MS;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > MAX_DRAIN_TIMEOUT_MS) {
    throw new TypeError(
      `${who}: ${name} must be an integer from 0 to ${MAX_DRAIN_TIMEOUT_MS} (ms), got ${
        JSON.stringify(v)
      }`,
    );
  }
  return v;
}

/** Validates the shared options (the gateway first); the runtime's own ones are its entry's. */
export function resolveServeOptions<Env>(
  who: string,
  options: GatewayServerOptions<Env>,
): ResolvedServeOptions<Env> {
  const { gateway } = options;
  checkGateway(who, gateway);
  return {
    who,
    gateway,
    limits: admissionLimits(options, who),
    closeTimeoutMs: validateMs(
      who,
      "closeTimeoutMs",
      options.closeTimeoutMs,
      DEFAULT_CLOSE_TIMEOUT_MS,
    ),
    headersTimeoutMs: validateMs(
      who,
      "headersTimeoutMs",
      options.headersTimeoutMs,
      DEFAULT_HEADERS_TIMEOUT_MS,
    ),
    drainTimeoutMs: validateDrainMs(who, "drainTimeoutMs", options.drainTimeoutMs),
    handler: options.fetch ?? ((req: Request, env: Env) => gateway.app.fetch(req, env)),
    hostname: options.hostname ?? "127.0.0.1",
    port: options.port ?? 8787,
    log: gateway.sessionConfig?.log,
  };
}

/** A transport's public face: its upgrade hook, its admission counters and its shutdown. */
export function transportOf(
  admission: Admission,
  upgrade: Upgrader,
  shutdown: (graceMs?: number, drainMs?: number) => Promise<void>,
): GatewayTransport {
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

/** A started server before its `shutdown` is wired to signals (`shutdownOnce`). */
export interface StartedServer<Addr> {
  addr: Addr;
  url: string;
  transport: GatewayTransport;
  finished: Promise<void>;
  /** Drains for `drainMs` (0: none), then stops. */
  stopServer: (drainMs: number) => Promise<void>;
}

/** `addr`: the bound address (or the one asked for, when the bind failed). */
export interface StartedNodeHttp extends StartedServer<{ hostname: string; port: number }> {
  node: NodeServer;
}

/** The gateway on server.ts (node:http + ws) at `hostname:port`, with admission. */
export function startNodeHttp<Env>(
  o: ResolvedServeOptions<Env>,
  hostname: string,
  port: number,
): StartedNodeHttp {
  const admission = new Admission(o.limits, o.log);
  const node = serveNodeHttp({
    port,
    hostname,
    log: o.log,
    fetch: (req, env) => o.handler(req, env as unknown as Env),
    admission,
    closeTimeoutMs: o.closeTimeoutMs,
    headersTimeoutMs: o.headersTimeoutMs,
  });
  const addr = node.address ?? { hostname, port };
  return {
    node,
    addr,
    url: httpUrl(addr.hostname, addr.port),
    transport: transportOf(admission, node.upgrade, (g = GRACE_MS, d) => node.shutdown(g, d)),
    finished: node.finished,
    stopServer: (drainMs) => node.shutdown(GRACE_MS, drainMs),
  };
}

/** How a runtime subscribes to SIGINT / SIGTERM (either may throw where unsupported). */
export interface SignalHooks {
  add(signal: "SIGINT" | "SIGTERM", fn: () => void): void;
  remove(signal: "SIGINT" | "SIGTERM", fn: () => void): void;
}

/**
 * The server's idempotent graceful `shutdown()`, also run when `signal` aborts and, with
 * `handleSignals`, on SIGINT / SIGTERM.
 */
export function shutdownOnce(
  stopServer: (drainMs: number) => Promise<void>,
  options: { signal?: AbortSignal; handleSignals?: boolean; who?: string },
  hooks: SignalHooks,
  drainTimeoutMs = DEFAULT_DRAIN_TIMEOUT_MS,
): (options?: ShutdownOptions) => Promise<void> {
  let stopping: Promise<void> | null = null;
  const signals = options.handleSignals ? (["SIGINT", "SIGTERM"] as const) : [];
  const onSignal = () => void shutdown();
  const shutdown = (so?: ShutdownOptions): Promise<void> => {
    if (stopping) return stopping;
    const drainMs = so?.deadlineMs === undefined
      ? drainTimeoutMs
      : validateDrainMs(options.who ?? "shutdown", "deadlineMs", so.deadlineMs);
    stopping = (async () => {
      for (const s of signals) {
        try {
          hooks.remove(s, onSignal);
        } catch { /* not supported on this platform */ }
      }
      options.signal?.removeEventListener("abort", onSignal);
      await stopServer(drainMs);
    })();
    return stopping;
  };
  for (const s of signals) {
    try {
      hooks.add(s, onSignal);
    } catch { /* SIGTERM is not available on Windows */ }
  }
  if (options.signal?.aborted) void shutdown();
  else options.signal?.addEventListener("abort", onSignal, { once: true });
  return shutdown;
}

/** `http://host:port` (IPv6 in brackets). */
export function httpUrl(hostname: string, port: number): string {
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  return `http://${host}:${port}`;
}
