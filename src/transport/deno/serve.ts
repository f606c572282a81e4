/**
 * The Deno transport: `Deno.serve` + `Deno.upgradeWebSocket`, one ServerSession per socket.
 * It maps socket events onto the session and owns nothing else:
 *
 *   open            → gateway.createSession(socket, remoteAddr)
 *   message         → session.receive(bytes | text)          then re-arm the timer
 *   socket send     → ws.send                                 then re-arm the timer
 *   timer           → session.onTimer(now) at session.nextDeadline()
 *   close           → session.onSocketClose(code, reason)
 *   abort / signal  → every session.shutdown() (clients see 1001), then the server stops
 *
 * Per-client-address limits (before any handshake work): at most `maxChannelsPerAddress` open
 * sockets and `maxHandshakesPerAddressPerMinute` new ones per address (a token bucket of that
 * size refilled evenly over a minute, on the gateway clock). An upgrade over either limit is
 * accepted and then closed at once with 4009 `rate_limited` and a reason saying which limit,
 * without creating a session (so pqgate clients get a typed error with that code; a 429 before
 * the upgrade would reach browsers as an anonymous 1006). IPv6 clients are counted per /64
 * (one host usually owns a whole /64); IPv4-mapped IPv6 addresses count as their IPv4 address.
 */
import type { Gateway, Upgrader } from "../../gateway/create-gateway.ts";
import { UPGRADE_ENV_KEY } from "../../gateway/create-gateway.ts";
import { TimerDriver } from "../../tunnel/timer-driver.ts";
import { TokenBucket } from "../../tunnel/rate-limit.ts";
import { CLOSE_CODES } from "../../protocol/errors.ts";
import type { Socket } from "../../tunnel/types.ts";

interface SessionHandle {
  receive(message: Uint8Array<ArrayBuffer> | string): unknown;
  onSocketClose(code: number, reason: string): void;
  nextDeadline(): number | null | undefined;
  onTimer(now: number): void;
  shutdown(): void;
}

/** Sessions of one transport, so they can all be shut down together. */
export interface DenoTransport {
  /** The upgrade hook: pass as `createGateway({ upgrade })`, or let `serveDeno` inject it. */
  readonly upgrade: Upgrader;
  /** Open sockets (handshaking or established). */
  readonly sessionCount: number;
  /** Client addresses the per-address limits currently remember (for tests and metrics). */
  readonly trackedAddresses: number;
  /**
   * Graceful shutdown: every session's `shutdown()` (CLOSE frame, then WebSocket close 1001),
   * then waits up to `graceMs` for the sockets to close. New upgrades are refused with 503.
   */
  shutdown(graceMs?: number): Promise<void>;
}

/** Default `maxChannelsPerAddress`: open channels per client address. */
export const DEFAULT_MAX_CHANNELS_PER_ADDRESS = 256;
/** Default `maxHandshakesPerAddressPerMinute`: new channels per client address per minute. */
export const DEFAULT_MAX_HANDSHAKES_PER_ADDRESS_PER_MINUTE = 600;

export interface DenoTransportOptions {
  /**
   * Open channels (sockets handshaking or established) per client address; more → the new one
   * is closed with 4009. 0 = no limit. Default 256. Behind a reverse proxy every client has the
   * proxy's address: raise it or set 0 there.
   */
  maxChannelsPerAddress?: number;
  /**
   * New channels (each a handshake) per client address per minute, as a token bucket of this
   * size refilled evenly (a burst of this many, then one per 60/N s); more → closed with 4009.
   * 0 = no limit. Default 600.
   */
  maxHandshakesPerAddressPerMinute?: number;
  /** Structured log (e.g. the gateway's); refusals are logged at most once a minute per address. */
  log?: (event: string, fields?: Record<string, unknown>) => void;
}

/**
 * The key per-address limits count under: an IPv4 address as is, an IPv6 address's /64 prefix
 * ("2001:db8:0:1::/64"), an IPv4-mapped IPv6 address as its IPv4 address; null when none.
 */
export function addressKey(hostname: string | null | undefined): string | null {
  if (!hostname) return null;
  let h = hostname.trim().toLowerCase();
  if (h.startsWith("[") && h.endsWith("]")) h = h.slice(1, -1);
  const zone = h.indexOf("%");
  if (zone >= 0) h = h.slice(0, zone);
  if (!h.includes(":")) return h;
  // An embedded IPv4 tail ("::ffff:192.0.2.1") becomes two hex groups.
  let v4: string | null = null;
  const dot = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h);
  if (dot) {
    v4 = dot.slice(1, 5).map(Number).join(".");
    const [a, b, c, d] = dot.slice(1, 5).map(Number);
    h = h.slice(0, dot.index) + ((a << 8) | b).toString(16) + ":" + ((c << 8) | d).toString(16);
  }
  const halves = h.split("::");
  if (halves.length > 2) return h; // not IPv6 text: count it as given
  const parts = (x: string) => (x === "" ? [] : x.split(":"));
  let groups = parts(halves[0]);
  if (halves.length === 2) {
    const tail = parts(halves[1]);
    groups = [...groups, ...Array(Math.max(0, 8 - groups.length - tail.length)).fill("0"), ...tail];
  }
  const n = groups.map((g) => parseInt(g, 16) || 0);
  if (v4 !== null && n.length === 8 && n.slice(0, 5).every((x) => x === 0) && n[5] === 0xffff) return v4;
  while (n.length < 4) n.push(0);
  return `${n.slice(0, 4).map((x) => x.toString(16)).join(":")}::/64`;
}

function validateCount(name: string, v: unknown, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 0xffff_ffff) {
    throw new TypeError(
      `serveDeno: options.${name} must be an integer from 0 (no limit) to 4294967295, got ${
        JSON.stringify(v)
      }`,
    );
  }
  return v;
}

interface AddressEntry {
  open: number;
  bucket: TokenBucket | null;
  loggedAt: number | null;
}

const SWEEP_MS = 60_000;

export function denoTransport(options: DenoTransportOptions = {}): DenoTransport {
  const live = new Map<WebSocket, { session: SessionHandle | null; closed: Promise<void> }>();
  let stopping = false;
  const maxOpen = validateCount(
    "maxChannelsPerAddress",
    options.maxChannelsPerAddress,
    DEFAULT_MAX_CHANNELS_PER_ADDRESS,
  );
  const perMinute = validateCount(
    "maxHandshakesPerAddressPerMinute",
    options.maxHandshakesPerAddressPerMinute,
    DEFAULT_MAX_HANDSHAKES_PER_ADDRESS_PER_MINUTE,
  );
  const addresses = new Map<string, AddressEntry>();
  let lastSweep = -Infinity;
  const idle = (e: AddressEntry, now: number) => e.open === 0 && (e.bucket === null || e.bucket.full(now));
  /** Forgets addresses with nothing open and a full bucket (at most one pass per minute). */
  let lastClock: (() => number) | null = null;
  const sweep = (now: number, force = false) => {
    if (!force && now - lastSweep < SWEEP_MS && now >= lastSweep) return;
    lastSweep = now;
    for (const [k, e] of addresses) if (idle(e, now)) addresses.delete(k);
  };
  /** null if the address may open a channel now (and it is counted), else the refusal reason. */
  const admit = (key: string, now: number): string | null => {
    sweep(now);
    let e = addresses.get(key);
    if (!e) {
      e = { open: 0, bucket: perMinute > 0 ? new TokenBucket(perMinute / 60, perMinute, now) : null, loggedAt: null };
      addresses.set(key, e);
    }
    let refusal: string | null = null;
    if (maxOpen > 0 && e.open >= maxOpen) refusal = "channels";
    else if (e.bucket && !e.bucket.take(now)) refusal = "handshakes";
    if (refusal === null) {
      e.open++;
      return null;
    }
    if (e.loggedAt === null || now - e.loggedAt >= 60_000 || now < e.loggedAt) {
      e.loggedAt = now;
      try {
        options.log?.("transport.rate_limited", {
          limit: refusal === "channels" ? "maxChannelsPerAddress" : "maxHandshakesPerAddressPerMinute",
          open: e.open,
        });
      } catch { /* logging never breaks the transport */ }
    }
    return refusal === "channels"
      ? "rate limited: too many channels from this address"
      : "rate limited: too many handshakes from this address";
  };
  const release = (key: string, now: number) => {
    const e = addresses.get(key);
    if (!e) return;
    e.open = Math.max(0, e.open - 1);
    if (idle(e, now)) addresses.delete(key);
  };

  const upgrade: Upgrader = ({ request, env, createSession, clock }) => {
    if (stopping) {
      return new Response("shutting down", { status: 503, headers: { "retry-after": "1" } });
    }
    // Read the peer address first: Deno's ServeHandlerInfo.remoteAddr throws once upgraded.
    let clientAddress: string | null = null;
    try {
      const remote = (env as { remoteAddr?: Deno.Addr } | undefined)?.remoteAddr;
      clientAddress = remote && "hostname" in remote ? remote.hostname : null;
    } catch { /* not available */ }
    lastClock = clock;
    const key = maxOpen > 0 || perMinute > 0 ? addressKey(clientAddress) : null;
    const refusal = key === null ? null : admit(key, clock());
    const { socket: ws, response } = Deno.upgradeWebSocket(request, { idleTimeout: 0 });
    ws.binaryType = "arraybuffer";
    if (refusal !== null) {
      // Over a per-address limit: no session, no handshake work; a typed close for the client.
      ws.onopen = () => {
        try {
          ws.close(CLOSE_CODES.rate_limited, refusal);
        } catch {
          ws.close();
        }
      };
      ws.onerror = () => {/* a close event follows */};
      return response;
    }

    let session: SessionHandle | null = null;
    let driver: TimerDriver | null = null;
    let rearmQueued = false;
    let resolveClosed!: () => void;
    const entry = {
      session: null as SessionHandle | null,
      closed: new Promise<void>((r) => (resolveClosed = r)),
    };
    live.set(ws, entry);

    // Sends happen in bursts (one per record, often from an async response body); re-arm once
    // per burst. Receives re-arm synchronously (the session contract).
    const queueRearm = () => {
      if (rearmQueued) return;
      rearmQueued = true;
      queueMicrotask(() => {
        rearmQueued = false;
        driver?.arm();
      });
    };

    const socket: Socket = {
      send(bytes) {
        if (ws.readyState !== WebSocket.OPEN) return;
        ws.send(bytes);
        queueRearm();
      },
      close(code, reason) {
        if (ws.readyState === WebSocket.CLOSING || ws.readyState === WebSocket.CLOSED) return;
        try {
          ws.close(code, reason);
        } catch {
          ws.close();
        }
      },
      get bufferedAmount() {
        return ws.bufferedAmount;
      },
    };

    ws.onopen = () => {
      const s = createSession(socket, clientAddress);
      session = s;
      entry.session = s;
      driver = new TimerDriver({
        nextDeadline: () => s.nextDeadline() ?? null,
        onTimer: (now) => s.onTimer(now),
      }, {
        now: clock,
        unref: false,
      });
      driver.arm();
    };
    ws.onmessage = (e: MessageEvent) => {
      if (!session) return;
      const d = e.data;
      session.receive(typeof d === "string" ? d : new Uint8Array(d as ArrayBuffer));
      driver?.arm();
    };
    let released = false;
    ws.onclose = (e: CloseEvent) => {
      driver?.stop();
      driver = null;
      const s = session;
      session = null;
      live.delete(ws);
      if (key !== null && !released) {
        released = true;
        release(key, clock());
      }
      try {
        s?.onSocketClose(e.code, e.reason);
      } finally {
        resolveClosed();
      }
    };
    ws.onerror = () => {/* a close event follows */};
    return response;
  };

  return {
    upgrade,
    get sessionCount() {
      return live.size;
    },
    get trackedAddresses() {
      if (lastClock) sweep(lastClock(), true);
      return addresses.size;
    },
    async shutdown(graceMs = 3000) {
      stopping = true;
      const waits: Promise<void>[] = [];
      for (const [ws, entry] of live) {
        waits.push(entry.closed);
        if (entry.session) entry.session.shutdown();
        else {
          try {
            ws.close(1001, "going away");
          } catch { /* not open yet */ }
        }
      }
      let t: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.all(waits),
        new Promise<void>((r) => (t = setTimeout(r, graceMs))),
      ]);
      clearTimeout(t);
    },
  };
}

export interface ServeDenoOptions {
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
  /** Open channels per client address (see `DenoTransportOptions`); 0 = no limit. Default 256. */
  maxChannelsPerAddress?: number;
  /** New channels per client address per minute; 0 = no limit. Default 600. */
  maxHandshakesPerAddressPerMinute?: number;
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

export function serveDeno(options: ServeDenoOptions): DenoServer {
  const { gateway } = options;
  if (!gateway || typeof gateway.app?.fetch !== "function") {
    throw new TypeError("serveDeno: options.gateway must be a gateway from createGateway()");
  }
  const transport = denoTransport({
    maxChannelsPerAddress: options.maxChannelsPerAddress,
    maxHandshakesPerAddressPerMinute: options.maxHandshakesPerAddressPerMinute,
    log: gateway.sessionConfig?.log,
  });
  const handler = options.fetch ??
    ((req: Request, env: DenoGatewayEnv) => gateway.app.fetch(req, env));
  const server = Deno.serve(
    {
      port: options.port ?? 8787,
      hostname: options.hostname ?? "127.0.0.1",
      onListen: (addr) => options.onListen?.(addr as Deno.NetAddr),
    },
    (req, info) =>
      handler(req, { remoteAddr: info.remoteAddr, [UPGRADE_ENV_KEY]: transport.upgrade }),
  );

  const addr = server.addr as Deno.NetAddr;
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
      await transport.shutdown();
      await server.shutdown();
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

  return {
    addr,
    url: `http://${host}:${addr.port}`,
    transport,
    finished: server.finished,
    shutdown,
  };
}
