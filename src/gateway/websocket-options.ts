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
import { configFail, type Where, within } from "./config-error.ts";
import { configError, optionAt } from "./options.ts";
import type { WebSocketHandlerOptions } from "./request-handler.ts";

export interface WebSocketOptions {
  /**
   * Opens WebSockets to `ws:` / `wss:` origins. Default: the platform's (Deno's WebSocket; on
   * Workers the Durable Object's `fetch` with `Upgrade`, which createWorker passes); on Node
   * pass `wsOriginWebSocket()` from pqgate/node (the `pqgate` command does), also the bounded
   * choice on Deno (docs/websockets.md "Platforms"). `false`: no WebSocket to a URL origin.
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

/** The caps a config file (`websockets`) or PQGATE_WEBSOCKETS may set: no connectors. */
export type WebSocketSettings = Pick<
  WebSocketOptions,
  "maxPerChannel" | "maxOriginSockets" | "closeTimeoutMs"
>;

const CAPS: Record<keyof WebSocketSettings, [number, number]> = {
  maxPerChannel: [DEFAULT_MAX_WEBSOCKETS_PER_CHANNEL, 1024],
  maxOriginSockets: [DEFAULT_MAX_ORIGIN_WEBSOCKETS, 1_000_000],
  closeTimeoutMs: [DEFAULT_WS_CLOSE_TIMEOUT_MS, 60_000],
};

/** Checks the caps of `websockets` (in a file, the environment, or the option: `code`). */
export function checkWebSocketSettings(
  v: unknown,
  where: Where,
  code = false,
): Required<WebSocketSettings> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    configFail(where, "must be an object");
  }
  const known = code ? [...Object.keys(CAPS), "connect", "services"] : Object.keys(CAPS);
  for (const k of Object.keys(v)) {
    if (!known.includes(k)) {
      configFail(within(where, k), `is not a known setting (known: ${known.join(", ")})`);
    }
  }
  const out = {} as Required<WebSocketSettings>;
  for (
    const [k, [def, max]] of Object.entries(CAPS) as [keyof WebSocketSettings, [number, number]][]
  ) {
    const x = (v as Record<string, unknown>)[k];
    if (x !== undefined && (typeof x !== "number" || !Number.isInteger(x) || x < 1 || x > max)) {
      configFail(within(where, k), `must be an integer from 1 to ${max}, got ${JSON.stringify(x)}`);
    }
    out[k] = (x as number | undefined) ?? def;
  }
  return out;
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
  const o = options ?? {};
  const caps = checkWebSocketSettings(o, optionAt("websockets"), true);
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
      slots: new WebSocketSlots(caps.maxOriginSockets),
      maxPerChannel: caps.maxPerChannel,
      closeTimeoutMs: caps.closeTimeoutMs,
    },
    maxWsMessage: offered,
  };
}
