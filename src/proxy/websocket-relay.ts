/**
 * The gateway's half of a tunneled WebSocket (PROTOCOL.md §6.9, docs/websockets.md): one stream
 * of the channel ↔ one WebSocket to the route's origin. Knows no crypto and no platform: the
 * session hands in the checked head and the client's message bytes, a connector
 * (origin-websocket.ts) opens the origin's socket, and the answer is a 200 whose body is the
 * origin's messages (or a gateway error, before any connection where the refusal allows it).
 *
 * Order of the refusals, each before anything the next one costs: no WebSocket route → 403
 * (no connection); the route's authentication policy → 401/403; the channel's cap → 429
 * `websocket_limit`; the gateway's cap of origin sockets → 503 `websocket_busy`; the origin
 * refusing, unreachable or choosing a subprotocol not offered → 502; no upgrade in time → 504.
 *
 * Once open, the WebSocket is websocket-pipe.ts's: both directions, the closes, the bounds of
 * what it holds (tested in websocket-relay.test.ts and src/gateway/websocket.test.ts).
 */
import type { AuthMethod, ClientIdentity } from "../tunnel/types.ts";
import { decideAuth } from "./auth-policy.ts";
import { gatewayError } from "./errors.ts";
import type { ForwardedResponse } from "./forward.ts";
import { type FieldPair, originRequestFields } from "./headers.ts";
import {
  type OriginSocket,
  type OriginWebSocketConnect,
  OriginWebSocketError,
} from "./origin-websocket.ts";
import { matchRoute, type RouteTable } from "./routes.ts";
import { Relay, type RelaySummary } from "./websocket-pipe.ts";

export { CLIENT_SLACK, DEFAULT_WS_CLOSE_TIMEOUT_MS, type RelaySummary } from "./websocket-pipe.ts";

/** The reference gateway's cap of tunneled WebSockets per channel (→ 429 `websocket_limit`). */
export const DEFAULT_MAX_WEBSOCKETS_PER_CHANNEL = 16;
/**
 * The reference gateway's cap of origin WebSockets in the process / Durable Object (→ 503).
 * With the per-socket bound (about 4 × max_ws_message + 128 KiB at worst, docs/websockets.md)
 * it bounds what tunneled WebSockets can hold in all: about 1 GiB at the 1 MiB default.
 */
export const DEFAULT_MAX_ORIGIN_WEBSOCKETS = 256;
/** Handshake fields the gateway makes itself (§6.9), never forwarded. */
const WS_HANDSHAKE_FIELDS = new Set([
  "pqgate-protocol",
  "sec-websocket-key",
  "sec-websocket-version",
  "sec-websocket-extensions",
  "sec-websocket-accept",
  "sec-websocket-protocol",
  "accept-encoding",
]);

/**
 * The gateway's count of origin sockets (one per gateway: a process, or a Durable Object).
 * `open` never exceeds `max`.
 */
export class WebSocketSlots {
  #open = 0;
  constructor(readonly max: number = DEFAULT_MAX_ORIGIN_WEBSOCKETS) {}
  get open(): number {
    return this.#open;
  }
  /** Takes a slot, or false at the cap. */
  acquire(): boolean {
    if (this.#open >= this.max) return false;
    this.#open++;
    return true;
  }
  release(): void {
    if (this.#open > 0) this.#open--;
  }
}

export interface RelayRequest {
  /** "https" for a wss: target, "http" for ws:. */
  scheme: string;
  authority: string;
  path: string;
  headers: Headers;
  /** The client's message bytes (window granted as they are read). */
  body: ReadableStream<Uint8Array>;
  /** Aborted when the client resets the stream or the channel goes. */
  signal: AbortSignal;
  /** Offered subprotocols, validated tokens, in order. */
  protocols: readonly string[];
  /** Tunneled WebSockets open on the channel, this one included. */
  channelSockets: number;
  /** The channel's max_ws_message (> 0). */
  maxMessage: number;
}

export interface RelayContext {
  routes: RouteTable;
  clientAddress: string | null;
  suite: number | string;
  sessionId: Uint8Array | string;
  /** The connector for ws(s): URL routes; null: such routes answer 502. */
  connect: OriginWebSocketConnect | null;
  /** Connectors of `service:NAME` WebSocket routes; a route without one → 502. */
  services?: (name: string) => OriginWebSocketConnect | null;
  /** Gateway default time to an open origin socket; a route's `timeoutMs` wins. */
  timeoutMs: number;
  slots: WebSocketSlots;
  maxPerChannel?: number;
  closeTimeoutMs?: number;
  identity?: ClientIdentity | null;
  authMethods?: ReadonlySet<AuthMethod>;
  now?: () => number;
  access?: { route: string; authMethod?: string | null };
  /** Called once when the WebSocket is over (never for a refusal). */
  onEnd?: (summary: RelaySummary) => void;
}

/** Opens the origin's WebSocket for a WebSocket stream and relays it; never rejects. */
export async function relayWebSocket(
  req: RelayRequest,
  ctx: RelayContext,
): Promise<Response | ForwardedResponse> {
  const refuse = (r: Response) => {
    req.body.cancel().catch(() => {});
    return r;
  };
  const match = matchRoute(ctx.routes, {
    authority: req.authority,
    path: req.path,
    scheme: req.scheme,
    host: req.headers.has("host") ? [req.headers.get("host")!] : [],
    websocket: true,
  });
  if (ctx.access) ctx.access.route = match === null ? "none" : String(match.route.index);
  if (match === null) return refuse(gatewayError("forbidden"));
  const { route } = match;
  const auth = decideAuth(route, ctx.identity, (ctx.now ?? Date.now)(), ctx.authMethods);
  if (!auth.ok) return refuse(gatewayError(auth.code, auth.extra));
  if (ctx.access && auth.headers.length > 0) ctx.access.authMethod = ctx.identity!.method;
  if (req.channelSockets > (ctx.maxPerChannel ?? DEFAULT_MAX_WEBSOCKETS_PER_CHANNEL)) {
    return refuse(gatewayError("websocket_limit"));
  }
  const connect = match.service === null ? ctx.connect : ctx.services?.(match.service) ?? null;
  if (connect === null) return refuse(gatewayError("bad_gateway"));
  if (!ctx.slots.acquire()) return refuse(gatewayError("websocket_busy", { "retry-after": "1" }));

  // The upgrade request's fields: the HTTP header policy, then without the handshake fields
  // (the connector makes its own handshake) and without the Host the platform sets.
  const scheme = req.scheme.toLowerCase() === "http" ? "ws" : "wss";
  const url = match.service === null ? match.url : `${scheme}://${match.authority}${match.rest}`;
  const fields: FieldPair[] = originRequestFields(req.headers, {
    host: new URL(url).host,
    clientAddress: ctx.clientAddress,
    suite: ctx.suite,
    sessionId: ctx.sessionId,
    gatewayAuth: route.gatewayAuth,
    forwardedHost: route.forwardedHost ? match.authority : undefined,
  });
  const headers = new Headers();
  for (const [n, v] of fields) {
    if (n !== "host" && !WS_HANDSHAKE_FIELDS.has(n)) headers.append(n, v);
  }
  for (const [n, v] of auth.headers) headers.append(n, v);

  const timeoutMs = route.timeoutMs ?? ctx.timeoutMs;
  const ac = new AbortController();
  const timer = setTimeout(
    () => ac.abort(new DOMException("origin WebSocket timeout", "TimeoutError")),
    timeoutMs,
  );
  const onClientAbort = () => ac.abort(req.signal.reason);
  if (req.signal.aborted) onClientAbort();
  req.signal.addEventListener("abort", onClientAbort, { once: true });
  let socket: OriginSocket;
  try {
    socket = await connect({
      url,
      protocols: req.protocols,
      headers,
      signal: ac.signal,
      maxMessage: req.maxMessage,
    });
  } catch (e) {
    ctx.slots.release();
    const timedOut = (e instanceof OriginWebSocketError && e.kind === "timeout") ||
      (ac.signal.aborted && (ac.signal.reason as Error)?.name === "TimeoutError");
    return refuse(gatewayError(timedOut ? "gateway_timeout" : "bad_gateway"));
  } finally {
    clearTimeout(timer);
    req.signal.removeEventListener("abort", onClientAbort);
  }
  if (socket.protocol !== "" && !req.protocols.includes(socket.protocol)) {
    socket.close(1002, "");
    ctx.slots.release();
    return refuse(gatewayError("bad_gateway"));
  }
  if (req.signal.aborted) {
    socket.close(1001, "");
    ctx.slots.release();
    return refuse(gatewayError("bad_gateway"));
  }
  const relay = new Relay(req, ctx, socket, String(route.index));
  return {
    status: 200,
    statusText: "",
    headers: socket.protocol === "" ? [] : [["sec-websocket-protocol", socket.protocol]],
    body: relay.toClient,
  };
}
