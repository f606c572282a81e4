/**
 * The RequestHandler every ServerSession calls: route match (403 JSON and no origin connection
 * when nothing matches) + forward with header hygiene. Both live in src/proxy/forward.ts; this
 * file only maps a decrypted `Request` and its channel onto it.
 */
import { demoOrigin } from "../demo/origin.ts";
import { demoWebSocket } from "../demo/websocket-echo.ts";
import { asResponse, type ForwardedResponse, forwardParts } from "../proxy/forward.ts";
import type { OriginWebSocketConnect } from "../proxy/origin-websocket.ts";
import type { RouteConfig, RouteTable } from "../proxy/routes.ts";
import { type FetchHandler, serviceLookup } from "../proxy/service-fetch.ts";
import {
  type RelaySummary,
  relayWebSocket,
  type WebSocketSlots,
} from "../proxy/websocket-relay.ts";
import type { AccessNote } from "../tunnel/events.ts";
import type { AuthMethod, ChannelInfo, DecodedRequest, RequestHandler } from "../tunnel/types.ts";
import type { GatewayLog, ServiceBinding } from "./options.ts";

/**
 * The default route table: `https://demo/...` → the embedded demo origin (`service:demo`), and
 * the tunneled WebSocket `wss://demo/ws` → its echo (src/demo/websocket-echo.ts).
 */
export const DEMO_ROUTES: readonly RouteConfig[] = Object.freeze([
  { match: { authority: "demo" }, origin: "service:demo" },
  { match: { authority: "demo", pathPrefix: "/ws" }, origin: "service:demo", websocket: true },
]);

/**
 * The demo routes of a gateway with client authentication (the demo user, docs/configuration.md
 * §6): the same, and `https://demo/api/me`, which requires it.
 */
export const DEMO_AUTH_ROUTES: readonly RouteConfig[] = Object.freeze([
  ...DEMO_ROUTES,
  { match: { authority: "demo", pathPrefix: "/api/me" }, origin: "service:demo", auth: "required" },
]);

export interface RequestHandlerOptions {
  routes: RouteTable;
  services: Record<string, ServiceBinding>;
  fetch: (input: Request) => Promise<Response>;
  /** The same fetch taking a URL and an init (proxy/forward.ts `fetchUrl`), when there is one. */
  fetchUrl?: (url: string, init: RequestInit & { duplex?: "half" }) => Promise<Response>;
  originTimeoutMs: number;
  /** Response-body idle timeout (0 = none); a route's `bodyIdleTimeoutMs` wins. */
  originBodyIdleTimeoutMs?: number;
  maxBodyBytes: number;
  /** The enabled client authentication methods (the hint of a 401 names them). */
  authMethods?: ReadonlySet<AuthMethod>;
  /** Bind `service:demo` to the embedded demo origin (when no routes were configured). */
  demo: boolean;
  log?: GatewayLog;
  /** Tunneled WebSockets (PROTOCOL.md §6.9); absent: the session never offers them. */
  websockets?: WebSocketHandlerOptions;
}

/** What the relay (src/proxy/websocket-relay.ts) needs besides the request. */
export interface WebSocketHandlerOptions {
  /** Opens ws(s): origins; null when the platform has no connector. */
  connect: OriginWebSocketConnect | null;
  /** Connectors of `service:NAME` WebSocket routes (the demo's echo is added here). */
  services: Record<string, OriginWebSocketConnect>;
  slots: WebSocketSlots;
  maxPerChannel: number;
  closeTimeoutMs: number;
}

function asFetchHandler(b: ServiceBinding): FetchHandler {
  return typeof b === "function" ? { fetch: b } : { fetch: (r) => b.fetch(r) };
}

/**
 * Scheme, host and path + query of a serialized absolute http(s) URL (a `Request`'s `url`, which
 * the session built from the channel's request head and which is therefore already parsed and
 * canonical): the same parts `new URL` gives, by slicing, which is ~10x cheaper per request.
 * Anything else (no "//" authority) goes through `new URL`.
 */
export function splitUrl(href: string): { scheme: string; host: string; path: string } {
  const colon = href.indexOf(":");
  if (colon > 0 && href.startsWith("//", colon + 1)) {
    const hostStart = colon + 3;
    let end = href.length;
    const hash = href.indexOf("#", hostStart);
    if (hash !== -1) end = hash;
    let slash = href.indexOf("/", hostStart);
    const query = href.indexOf("?", hostStart);
    if (slash === -1 || slash > end) slash = end;
    if (query !== -1 && query < slash) slash = query;
    const path = href.slice(slash, end);
    return {
      scheme: href.slice(0, colon),
      host: href.slice(hostStart, slash),
      path: path === "" || path[0] === "?" ? "/" + path : path,
    };
  }
  const u = new URL(href);
  return { scheme: u.protocol.slice(0, -1), host: u.host, path: u.pathname + u.search };
}

export function createRequestHandler(o: RequestHandlerOptions): RequestHandler {
  const handlers: Record<string, FetchHandler> = {};
  if (o.demo) handlers.demo = demoOrigin;
  for (const [name, b] of Object.entries(o.services)) handlers[name] = asFetchHandler(b);
  const services = serviceLookup(handlers);
  const network = (r: Request) => o.fetch(r);
  const ws = o.websockets;
  const wsServices: Record<string, OriginWebSocketConnect> = {};
  if (o.demo) wsServices.demo = demoWebSocket;
  if (ws) Object.assign(wsServices, ws.services);
  const wsService = (name: string) => Object.hasOwn(wsServices, name) ? wsServices[name] : null;
  const wsEnded = (channel: ChannelInfo, s: RelaySummary) =>
    o.log?.("websocket", { sessionId: channel.sessionId, ...s });

  const handle = async (
    r: Omit<DecodedRequest, "url">,
    channel: ChannelInfo,
    access: AccessNote | undefined,
  ): Promise<Response | ForwardedResponse> => {
    const started = access ? Date.now() : 0;
    const response = r.websocket && ws
      ? await relayWebSocket({
        scheme: r.scheme,
        authority: r.host,
        path: r.path,
        headers: r.headers,
        body: r.body!,
        signal: r.signal,
        protocols: r.websocket.protocols,
        channelSockets: r.websocket.channelSockets,
        maxMessage: r.websocket.maxMessage,
      }, {
        routes: o.routes,
        clientAddress: channel.clientAddress,
        suite: channel.suite,
        sessionId: channel.sessionId,
        connect: ws.connect,
        services: wsService,
        timeoutMs: o.originTimeoutMs,
        slots: ws.slots,
        maxPerChannel: ws.maxPerChannel,
        closeTimeoutMs: ws.closeTimeoutMs,
        identity: channel.identity,
        authMethods: o.authMethods,
        access,
        onEnd: o.log ? (s) => wsEnded(channel, s) : undefined,
      })
      : await forwardParts({
        method: r.method,
        scheme: r.scheme,
        authority: r.host,
        path: r.path,
        headers: r.headers,
        body: r.body,
      }, {
        routes: o.routes,
        clientAddress: channel.clientAddress,
        suite: channel.suite,
        sessionId: channel.sessionId,
        fetch: network,
        fetchUrl: o.fetchUrl,
        services,
        timeoutMs: o.originTimeoutMs,
        bodyIdleTimeoutMs: o.originBodyIdleTimeoutMs,
        maxBodyBytes: o.maxBodyBytes,
        signal: r.signal,
        identity: channel.identity,
        authMethods: o.authMethods,
        access,
      });
    // The stream's access line (src/tunnel/events.ts "request") gets the route, the time to
    // the response head and the target (written to logs only when enabled).
    if (access) {
      if (access.route !== "gateway" && access.route !== "none") {
        access.originMs = Date.now() - started;
      }
      access.authority = r.host;
      access.path = r.path;
    }
    return response;
  };

  const handler: RequestHandler = async (request, channel, access) => {
    const url = splitUrl(request.url);
    const response = await handle(
      {
        method: request.method,
        scheme: url.scheme,
        host: url.host,
        path: url.path,
        headers: request.headers,
        body: request.body,
        signal: request.signal,
      },
      channel,
      access,
    );
    return asResponse(response);
  };
  // The sessions call this one: the same request, checked, without a Request object, and the
  // origin's answer without a Response around it (gateway errors stay Responses).
  handler.decoded = (request, channel, access) => handle(request, channel, access);
  return handler;
}
