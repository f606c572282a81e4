/**
 * The Worker's `websockets` option (docs/websockets.md, docs/cloudflare.md "Tunneled
 * WebSockets"): the relay's connectors and caps as the Worker builds them from its env.
 *
 * - `ws:` / `wss:` origins: the Durable Object's global `fetch` with `Upgrade: websocket`
 *   (origin-websocket.ts), unless the code passes `websockets.connect`.
 * - `service:NAME` routes with `websocket: true`: the same connector over the binding's `fetch`.
 * - Caps: PQGATE_WEBSOCKETS, the code's over it. `maxOriginSockets` counts per isolate (the
 *   gateway is shared by every Durable Object in it), so its default here is lower than the
 *   gateway's 256: WORKERS_MAX_ORIGIN_SOCKETS keeps the worst case of what the relay holds
 *   within half of the isolate's 128 MB at the 1 MiB message size.
 * - Message size: Workers refuses a WebSocket message over 1 MiB on the origin leg, so a
 *   `maxWsMessage` above it is a configuration error here, not sockets that fail with 1009.
 */
import { configFail } from "../../gateway/config-error.ts";
import type { WebSocketOptions, WebSocketSettings } from "../../gateway/websocket-options.ts";
import type { OriginWebSocketConnect } from "../../proxy/origin-websocket.ts";
import type { RouteConfig } from "../../proxy/routes.ts";
import { DEFAULT_MAX_WS_MESSAGE } from "../../tunnel/ws-messages.ts";
import { workerdOriginWebSocket } from "./origin-websocket.ts";
import type { Fetcher } from "./platform.ts";

/** Origin WebSockets per isolate by default: 20 × ~3.2 MiB ≈ 64 MiB at worst (docs/cloudflare.md). */
export const WORKERS_MAX_ORIGIN_SOCKETS = 20;

/** The largest WebSocket message Workers delivers (Cloudflare's limit; larger ones are 1009). */
export const WORKERS_MAX_WS_MESSAGE = DEFAULT_MAX_WS_MESSAGE;

/** Refuses a `maxWsMessage` Workers cannot carry on the origin leg (PQGATE_LIMITS or code). */
export function checkWorkersMaxWsMessage(
  maxWsMessage: number | undefined,
  from: "PQGATE_LIMITS" | "limits",
): void {
  if (maxWsMessage !== undefined && maxWsMessage > WORKERS_MAX_WS_MESSAGE) {
    configFail(
      { path: [from, "maxWsMessage"] },
      `is ${maxWsMessage}, but Workers refuses WebSocket messages over ${WORKERS_MAX_WS_MESSAGE} bytes (1 MiB) on the origin leg`,
    );
  }
}

function isWebSocketServiceRoute(r: RouteConfig): string | null {
  const origin = typeof r?.origin === "string" ? r.origin : "";
  return r?.websocket === true && origin.startsWith("service:")
    ? origin.slice("service:".length)
    : null;
}

/**
 * The gateway's `websockets` for these routes: env caps (`fromEnv`), the code's option over
 * them, the Workers connector and one per WebSocket service binding. `bindings` are the
 * Fetchers of the `service:` routes (worker-env.ts `serviceBindings`, already checked).
 */
export function workerWebSockets(
  routes: readonly RouteConfig[] | undefined,
  bindings: Record<string, Fetcher>,
  fromEnv: WebSocketSettings | undefined,
  fromCode: WebSocketOptions | undefined,
): WebSocketOptions {
  const services: Record<string, OriginWebSocketConnect> = {};
  for (const r of routes ?? []) {
    const name = isWebSocketServiceRoute(r);
    const binding = name === null ? undefined : bindings[name];
    if (name !== null && binding) services[name] = workerdOriginWebSocket((q) => binding.fetch(q));
  }
  return {
    maxOriginSockets: WORKERS_MAX_ORIGIN_SOCKETS,
    ...fromEnv,
    ...fromCode,
    connect: fromCode?.connect ?? workerdOriginWebSocket(),
    services: { ...services, ...fromCode?.services },
  };
}
