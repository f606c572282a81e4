/**
 * createGateway's `websockets` option (docs/websockets.md): which connector opens WebSockets to
 * `ws:` / `wss:` origins, the connectors of `service:` WebSocket routes, and the relay's caps;
 * and from them the `max_ws_message` the sessions offer (PROTOCOL.md §6.9). A WebSocket route
 * that nothing can open is a configuration error at start, never a 502 at run time.
 */
import { platformOriginWebSocket } from "../proxy/platform-websocket.ts";
import type { OriginWebSocketConnect } from "../proxy/origin-websocket.ts";
import type { RouteTable } from "../proxy/routes.ts";
import {
  DEFAULT_MAX_ORIGIN_WEBSOCKETS,
  DEFAULT_MAX_WEBSOCKETS_PER_CHANNEL,
  DEFAULT_WS_CLOSE_TIMEOUT_MS,
  WebSocketSlots,
} from "../proxy/websocket-relay.ts";
import { DEFAULT_MAX_WS_MESSAGE } from "../tunnel/ws-messages.ts";
import { configError } from "./options.ts";
import type { WebSocketHandlerOptions } from "./request-handler.ts";

export interface WebSocketOptions {
  /**
   * Opens WebSockets to `ws:` / `wss:` origins. Default: the platform's (Deno's WebSocket; on
   * Workers the Durable Object's `fetch` with `Upgrade`, which createWorker passes); on Node
   * pass `wsOriginWebSocket()` from `pqgate/node`. `false`: no WebSocket to a URL origin.
   */
  connect?: OriginWebSocketConnect | false;
  /** Connectors of `service:NAME` WebSocket routes (`websocket: true`). */
  services?: Record<string, OriginWebSocketConnect>;
  /** Tunneled WebSockets open at once on one channel; past it 429. Default 16. */
  maxPerChannel?: number;
  /** Origin WebSockets the gateway holds at once (all channels); past it 503. Default 256. */
  maxOriginSockets?: number;
  /** How long the origin gets to answer a client's close (ms). Default 5000. */
  closeTimeoutMs?: number;
}

const KNOWN = new Set([
  "connect",
  "services",
  "maxPerChannel",
  "maxOriginSockets",
  "closeTimeoutMs",
]);

function count(name: string, v: unknown, def: number, max: number): number {
  if (v === undefined) return def;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > max) {
    configError(["websockets", name], `must be an integer from 1 to ${max}`);
  }
  return v;
}

/**
 * The relay's options (undefined: no WebSocket routes, nothing offered) and the offered
 * `max_ws_message`: the `limits.maxWsMessage` given, else 1 MiB when there is a WebSocket route.
 */
export function resolveWebSockets(
  options: WebSocketOptions | undefined,
  routes: RouteTable,
  demo: boolean,
  maxWsMessage: number | undefined,
): { handler: WebSocketHandlerOptions | undefined; maxWsMessage: number } {
  if (options !== undefined && (typeof options !== "object" || options === null)) {
    configError(["websockets"], "must be an object");
  }
  const o = options ?? {};
  for (const k of Object.keys(o)) {
    if (!KNOWN.has(k)) configError(["websockets", k], "is not a known option");
  }
  if (o.connect !== undefined && o.connect !== false && typeof o.connect !== "function") {
    configError(["websockets", "connect"], "must be a function or false");
  }
  const services: Record<string, OriginWebSocketConnect> = {};
  if (o.services !== undefined) {
    if (typeof o.services !== "object" || o.services === null) {
      configError(["websockets", "services"], "must be an object of connectors");
    }
    for (const [name, c] of Object.entries(o.services)) {
      if (typeof c !== "function") {
        configError(["websockets", "services", name], "must be a function");
      }
      services[name] = c;
    }
  }
  const connect = o.connect === false ? null : o.connect ?? platformOriginWebSocket();
  const wsRoutes = routes.routes.filter((r) => r.websocket);
  for (const r of wsRoutes) {
    if (r.origin.kind === "url" && connect === null) {
      configError(
        ["routes", r.index, "origin"],
        o.connect === false
          ? "is a WebSocket origin, but websockets.connect is false"
          : "is a WebSocket origin, but this platform has no WebSocket connector: pass websockets.connect (on Node: wsOriginWebSocket() from pqgate/node)",
      );
    }
    if (
      r.origin.kind === "service" && !Object.hasOwn(services, r.origin.name) &&
      !(demo && r.origin.name === "demo")
    ) {
      configError(
        ["routes", r.index, "origin"],
        `is a WebSocket route to service:${r.origin.name}, which websockets.services does not provide`,
      );
    }
  }
  const offered = maxWsMessage ?? (wsRoutes.length > 0 ? DEFAULT_MAX_WS_MESSAGE : 0);
  if (offered === 0) return { handler: undefined, maxWsMessage: 0 };
  return {
    handler: {
      connect,
      services,
      slots: new WebSocketSlots(
        count("maxOriginSockets", o.maxOriginSockets, DEFAULT_MAX_ORIGIN_WEBSOCKETS, 1_000_000),
      ),
      maxPerChannel: count(
        "maxPerChannel",
        o.maxPerChannel,
        DEFAULT_MAX_WEBSOCKETS_PER_CHANNEL,
        1024,
      ),
      closeTimeoutMs: count(
        "closeTimeoutMs",
        o.closeTimeoutMs,
        DEFAULT_WS_CLOSE_TIMEOUT_MS,
        60_000,
      ),
    },
    maxWsMessage: offered,
  };
}
