/**
 * The RequestHandler every ServerSession calls: route match (403 JSON and no origin connection
 * when nothing matches) + forward with header hygiene. Both live in src/proxy/forward.ts; this
 * file only maps a decrypted `Request` and its channel onto it.
 */
import { demoOrigin } from "../demo/origin.ts";
import { forward } from "../proxy/forward.ts";
import type { RouteConfig, RouteTable } from "../proxy/routes.ts";
import { type FetchHandler, serviceLookup } from "../proxy/service-fetch.ts";
import type { ChannelInfo, RequestHandler } from "../tunnel/types.ts";
import type { GatewayLog, ServiceBinding } from "./options.ts";

/** The default route table: `https://demo/...` → the embedded demo origin (`service:demo`). */
export const DEMO_ROUTES: readonly RouteConfig[] = Object.freeze([
  { match: { authority: "demo" }, origin: "service:demo" },
]);

export interface RequestHandlerOptions {
  routes: RouteTable;
  services: Record<string, ServiceBinding>;
  fetch: (input: Request) => Promise<Response>;
  originTimeoutMs: number;
  /** Response-body idle timeout (0 = none); a route's `bodyIdleTimeoutMs` wins. */
  originBodyIdleTimeoutMs?: number;
  maxBodyBytes: number;
  /** Bind `service:demo` to the embedded demo origin (when no routes were configured). */
  demo: boolean;
  log?: GatewayLog;
}

function asFetchHandler(b: ServiceBinding): FetchHandler {
  return typeof b === "function" ? { fetch: b } : { fetch: (r) => b.fetch(r) };
}

export function createRequestHandler(o: RequestHandlerOptions): RequestHandler {
  const handlers: Record<string, FetchHandler> = {};
  if (o.demo) handlers.demo = demoOrigin;
  for (const [name, b] of Object.entries(o.services)) handlers[name] = asFetchHandler(b);
  const services = serviceLookup(handlers);
  const network = (r: Request) => o.fetch(r);

  return async (request: Request, channel: ChannelInfo): Promise<Response> => {
    const started = Date.now();
    const url = new URL(request.url);
    const response = await forward({
      method: request.method,
      scheme: url.protocol.slice(0, -1),
      authority: url.host,
      path: url.pathname + url.search,
      headers: request.headers,
      body: request.body,
    }, {
      routes: o.routes,
      clientAddress: channel.clientAddress,
      suite: channel.suite,
      sessionId: channel.sessionId,
      fetch: network,
      services,
      timeoutMs: o.originTimeoutMs,
      bodyIdleTimeoutMs: o.originBodyIdleTimeoutMs,
      maxBodyBytes: o.maxBodyBytes,
      signal: request.signal,
    });
    // No paths, queries or header values in logs: only what an operator needs.
    o.log?.("request", {
      session: channel.sessionId,
      method: request.method,
      authority: url.host,
      status: response.status,
      gatewayError: response.headers.get("pqgate-error") ?? undefined,
      ms: Date.now() - started,
    });
    return response;
  };
}
