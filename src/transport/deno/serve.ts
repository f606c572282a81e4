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
 */
import type { Gateway, Upgrader } from "../../gateway/create-gateway.ts";
import { UPGRADE_ENV_KEY } from "../../gateway/create-gateway.ts";
import { TimerDriver } from "../../tunnel/timer-driver.ts";
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
  /**
   * Graceful shutdown: every session's `shutdown()` (CLOSE frame, then WebSocket close 1001),
   * then waits up to `graceMs` for the sockets to close. New upgrades are refused with 503.
   */
  shutdown(graceMs?: number): Promise<void>;
}

export function denoTransport(): DenoTransport {
  const live = new Map<WebSocket, { session: SessionHandle | null; closed: Promise<void> }>();
  let stopping = false;

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
    const { socket: ws, response } = Deno.upgradeWebSocket(request, { idleTimeout: 0 });
    ws.binaryType = "arraybuffer";

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
    ws.onclose = (e: CloseEvent) => {
      driver?.stop();
      driver = null;
      const s = session;
      session = null;
      live.delete(ws);
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
  const transport = denoTransport();
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
