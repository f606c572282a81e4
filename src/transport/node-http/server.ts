/**
 * The node:http server of serveDeno (its default, under Deno) and serveNode (on Node), with the
 * `ws` package on the server's 'upgrade' event. Per connection:
 *
 *   TCP accepted          → deadline `headersTimeoutMs` for the complete request headers (Deno's
 *                           node:http does not enforce server.headersTimeout: measured, Deno 2.9)
 *   plain request         → the fetch handler via getRequestListener (http-bridge.ts); deadline
 *                           REQUEST_TIMEOUT_MS for the exchange, then `headersTimeoutMs` idle
 *   upgrade request       → the fetch handler with the upgrade hook in its env; the hook admits
 *                           or refuses BEFORE the upgrade (admission.ts: 429 / 503); an admitted
 *                           request is upgraded by ws (`maxPayload` MAX_RECORD_LEN) and driven by
 *                           ws-lifecycle.ts; a ClientHello in the upgrade URL (PROTOCOL.md §1)
 *                           selects `pqgate.hello` and is the session's first message, one
 *                           longer than any ClientHello is refused first (414); any other answer is written raw, the socket ended and
 *                           destroyed after `closeTimeoutMs`
 */
import http from "node:http";
import net, { type Socket as NetSocket } from "node:net";
import { WebSocketServer } from "ws";
import { UPGRADE_ENV_KEY, type Upgrader } from "../../gateway/create-gateway.ts";
import type { GatewayLog } from "../../gateway/options.ts";
import { MAX_RECORD_LEN } from "../../protocol/constants.ts";
import type { SessionFactory } from "../../tunnel/session-seam.ts";
import { helloFromUpgrade } from "../../tunnel/client-hello.ts";
import {
  type Admission,
  helloRefusalResponse,
  isRefusal,
  refusalResponse,
  SHUTTING_DOWN,
  type Ticket,
} from "./admission.ts";
import {
  plainRequestListener,
  type RemoteAddr,
  remoteAddrOf,
  upgradeRequest,
  writeRawResponse,
} from "./http-bridge.ts";
import { drainAll, goAwayAll } from "./live-sockets.ts";
import { attachWs, type LiveSocket, type WsSocket } from "./ws-lifecycle.ts";

/** Deadline of one plain HTTP exchange (request headers received → response finished). */
export const REQUEST_TIMEOUT_MS = 30_000;

/** Where the bridge leaves the upgrade context in the env (not a string: no collision). */
const PENDING = Symbol("pqgate.pendingUpgrade");

interface Pending {
  accepted: {
    args: SessionFactory;
    ticket: Ticket;
    clientAddress: string;
    /** The subprotocol to select in the 101 (null: none). */
    protocol: string | null;
    /** The ClientHello of the upgrade URL (PROTOCOL.md §1), the session's first message. */
    hello: Uint8Array<ArrayBuffer> | null;
  } | null;
}

/** Where handleUpgrade leaves the subprotocol for ws's `handleProtocols` on the request. */
const SELECTED = Symbol("pqgate.subprotocol");

export interface NodeServerConfig {
  port: number;
  hostname: string;
  fetch: (request: Request, env: Record<string | symbol, unknown>) => Response | Promise<Response>;
  admission: Admission;
  closeTimeoutMs: number;
  headersTimeoutMs: number;
  log?: GatewayLog;
}

export interface NodeServer {
  readonly port: number;
  /** The bound address (known at once when `hostname` is an IP address), null until bound. */
  readonly address: { hostname: string; port: number } | null;
  /** Resolves once listening; rejects on a listen failure (e.g. EADDRINUSE). */
  readonly listening: Promise<void>;
  readonly upgrade: Upgrader;
  /** TCP connections not yet gone (plain, upgrading, upgraded, refused and lingering). */
  readonly connections: number;
  readonly finished: Promise<void>;
  /**
   * Refuses upgrades (503); with `drainMs` > 0 first drains (live-sockets.ts drainAll: still
   * listening meanwhile, so /readyz answers 503 and refused upgrades get their 503 rather than a
   * reset connection), else shuts every session down at once; then stops listening, waits up to
   * `graceMs` for the sessions to close and destroys what is left.
   */
  shutdown(graceMs: number, drainMs?: number): Promise<void>;
}

/** The part of a Writable (a net.Socket, ws's Receiver) `quietRepeatedEnd` uses. */
interface EndOnce {
  end(...args: unknown[]): unknown;
  readonly writableEnded?: boolean;
  readonly writableCorked?: number;
}

/**
 * Makes a repeated argument-less `end()` a no-op. ws ends the TCP socket after the close
 * handshake and its Receiver at the peer's FIN, then calls `end()` on both once more (websocket.js
 * socketOnEnd / socketOnClose); each such call builds an ERR_STREAM_ALREADY_FINISHED, with its
 * stack trace, that nobody receives: 7% of the gateway's JS time per channel (bench/channel-cost.ts
 * --prof). Without data or a callback, Writable.end on an ended stream has no other effect.
 */
function quietRepeatedEnd(w: EndOnce): void {
  const end = w.end;
  w.end = function (this: EndOnce, ...args: unknown[]) {
    if (args.length === 0 && this.writableEnded === true && !this.writableCorked) return this;
    return end.apply(this, args);
  };
}

export function serveNodeHttp(cfg: NodeServerConfig): NodeServer {
  /** Upgrades are refused (503) from the drain on. */
  let stopping = false;
  /** Not listening any more: new TCP connections are destroyed. */
  let closed = false;
  const live = new Set<LiveSocket>();
  const connections = new Set<NetSocket>();
  const deadlines = new Map<NetSocket, ReturnType<typeof setTimeout>>();
  const arm = (s: NetSocket, ms: number) => {
    clearTimeout(deadlines.get(s));
    deadlines.set(s, setTimeout(() => s.destroy(), ms));
  };
  const disarm = (s: NetSocket) => {
    clearTimeout(deadlines.get(s));
    deadlines.delete(s);
  };
  /** A refused or failed upgrade's socket: ended by writeRawResponse, destroyed at the bound. */
  const linger = (s: NetSocket) => arm(s, cfg.closeTimeoutMs);

  const upgrade: Upgrader = ({ request, env, createSession, clock }) => {
    const pending = (env as Record<symbol, Pending | undefined> | undefined)?.[PENDING];
    if (!pending) {
      return new Response("this upgrade hook serves only requests of its own server\n", {
        status: 501,
      });
    }
    if (stopping) {
      cfg.admission.refused("shutting_down", 503);
      return refusalResponse(SHUTTING_DOWN);
    }
    const reading = helloFromUpgrade(request.url, request.headers.get("sec-websocket-protocol"));
    if (reading.kind === "refuse") {
      cfg.admission.refused("upgrade_hello", reading.status);
      return helloRefusalResponse(reading);
    }
    const remote = (env as { remoteAddr: RemoteAddr }).remoteAddr;
    const ticket = cfg.admission.admit(remote.hostname || null, clock);
    if (isRefusal(ticket)) return refusalResponse(ticket);
    pending.accepted = {
      args: { createSession, clock },
      ticket,
      clientAddress: remote.hostname,
      protocol: reading.protocol,
      hello: reading.kind === "url" ? reading.hello : null,
    };
    // Never written: the bridge upgrades instead.
    return new Response(null, { status: 200 });
  };

  Object.defineProperty(upgrade, "draining", { get: () => stopping });

  const envFor = (remote: RemoteAddr, pending?: Pending): Record<string | symbol, unknown> => {
    const env: Record<string | symbol, unknown> = {
      remoteAddr: remote,
      [UPGRADE_ENV_KEY]: upgrade,
    };
    if (pending) env[PENDING] = pending;
    return env;
  };
  const plain = plainRequestListener((request, remote) => cfg.fetch(request, envFor(remote)));

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_RECORD_LEN,
    closeTimeout: cfg.closeTimeoutMs,
    perMessageDeflate: false,
    clientTracking: false,
    // One message per task, as Deno's WebSocket delivers them: with synchronous delivery a TCP
    // read of many records runs them all before the body pumps and flow control get a turn
    // (measured: a 20 MiB upload 3.4x slower).
    allowSynchronousEvents: false,
    // The subprotocol helloFromUpgrade chose for this request (PROTOCOL.md §1), else none.
    handleProtocols: (_offered: Set<string>, req: http.IncomingMessage) =>
      (req as unknown as Record<symbol, string | null | undefined>)[SELECTED] ?? false,
  });
  const server = http.createServer((req, res) => {
    arm(req.socket, REQUEST_TIMEOUT_MS);
    res.once("finish", () => arm(req.socket, cfg.headersTimeoutMs));
    void plain(req, res);
  });
  // Honoured by Node; Deno's node:http ignores them (hence the deadlines above).
  server.headersTimeout = cfg.headersTimeoutMs;
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.keepAliveTimeout = cfg.headersTimeoutMs;
  server.on("connection", (s: NetSocket) => {
    connections.add(s);
    s.on("error", () => {/* a close event follows */});
    s.once("close", () => {
      disarm(s);
      connections.delete(s);
    });
    if (closed) s.destroy();
    else arm(s, cfg.headersTimeoutMs);
  });
  server.on("upgrade", (req: http.IncomingMessage, s: NetSocket, head: Uint8Array) => {
    disarm(s);
    void handleUpgrade(req, s, head);
  });

  const handleUpgrade = async (req: http.IncomingMessage, s: NetSocket, head: Uint8Array) => {
    // The deadline for this phase is the handler's; a hung handler is bounded by closeTimeout.
    arm(s, REQUEST_TIMEOUT_MS);
    let response: Response;
    const pending: Pending = { accepted: null };
    const request = stopping ? null : upgradeRequest(req);
    if (stopping) response = refusalResponse(SHUTTING_DOWN);
    else if (!request) response = new Response("bad upgrade request\n", { status: 400 });
    else {
      try {
        response = await cfg.fetch(request, envFor(remoteAddrOf(s), pending));
      } catch {
        response = new Response("internal error\n", { status: 500 });
      }
    }
    const acc = pending.accepted;
    if (!acc) {
      linger(s);
      await writeRawResponse(s, response);
      return;
    }
    disarm(s);
    // Counted until the TCP connection is gone, whatever happens from here on. (Only the
    // ticket is captured: `acc` holds the URL's ClientHello, which must not live as long.)
    const ticket = acc.ticket;
    s.once("close", () => ticket.release());
    if (s.destroyed || stopping) {
      acc.ticket.release();
      s.destroy();
      return;
    }
    // ws answers a malformed upgrade (bad Sec-WebSocket-Key, version) with 400 itself.
    linger(s);
    quietRepeatedEnd(s);
    (req as unknown as Record<symbol, string | null>)[SELECTED] = acc.protocol;
    wss.handleUpgrade(req, s, head as Buffer, (ws: unknown) => {
      disarm(s);
      const receiver = (ws as { _receiver?: EndOnce })._receiver;
      if (receiver && typeof receiver.end === "function") quietRepeatedEnd(receiver);
      const handle = attachWs(ws as WsSocket, s, acc.args, acc.clientAddress, acc.ticket, {
        closeTimeoutMs: cfg.closeTimeoutMs,
        initialHello: acc.hello,
        onGone: () => live.delete(handle),
      });
      acc.hello = null; // handed to the session; nothing else keeps it for the socket's life
      live.add(handle);
    });
  };

  let resolveFinished!: () => void;
  const finished = new Promise<void>((r) => (resolveFinished = r));
  server.once("close", () => resolveFinished());
  const listening = new Promise<void>((resolve, reject) => {
    server.once("listening", resolve);
    server.on("error", (e: Error) => {
      // A listen failure after serveDeno/serveNode returned (on Deno its probe found the port
      // free): nothing served.
      cfg.log?.("transport.listen_failed", { message: e.message });
      reject(e);
      resolveFinished();
    });
  });
  listening.catch(() => {/* reported through `listening` and the log */});
  // Bound synchronously, so the address is served as soon as serveDeno returns: `listen(port,
  // host)` would bind a tick later (after a lookup), and Deno's eager ops can connect before
  // that. `_listen2` is node:net's bind-and-listen for a resolved address (Node and Deno).
  const family = net.isIP(cfg.hostname);
  const listen2 =
    (server as unknown as { _listen2?: (a: string, p: number, t: number, b: number) => void })
      ._listen2;
  if (family !== 0 && typeof listen2 === "function") {
    listen2.call(server, cfg.hostname, cfg.port, family, 511);
  } else server.listen(cfg.port, cfg.hostname);

  return {
    port: cfg.port,
    get address() {
      const a = server.address();
      return a && typeof a === "object" ? { hostname: a.address, port: a.port } : null;
    },
    listening,
    upgrade,
    get connections() {
      return connections.size;
    },
    finished,
    async shutdown(graceMs, drainMs = 0) {
      if (stopping) return finished;
      stopping = true;
      if (drainMs > 0) await drainAll(live, drainMs, graceMs, cfg.log);
      closed = true;
      server.close();
      await goAwayAll(live, graceMs);
      // What is left (plain keep-alive connections, sockets past the grace period) goes now.
      for (const s of connections) s.destroy();
      await finished;
    },
  };
}
