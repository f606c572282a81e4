/**
 * The gateway-provided fetch for `forward()`: dispatches `service:NAME` routes to in-process
 * handlers or Workers service bindings (both are `{ fetch(Request) }`), everything else to the
 * network fetch. Service routes compile to `http://<name>.svc.pqgate.invalid/...` (routes.ts);
 * the `.invalid` TLD never resolves, so a service URL can never leak to the network.
 */
import { SERVICE_HOST_SUFFIX } from "./routes.ts";

export interface FetchHandler {
  fetch(request: Request): Response | Promise<Response>;
}

export function serviceFetch(
  services: Record<string, FetchHandler>,
  network: (request: Request) => Promise<Response> = (r) => fetch(r),
): (request: Request) => Promise<Response> {
  const table = new Map<string, FetchHandler>();
  for (const [name, handler] of Object.entries(services)) {
    const key = name.toLowerCase();
    if (table.has(key)) {
      throw new Error(`serviceFetch: services "${name}" collide (names are case-insensitive)`);
    }
    if (typeof handler?.fetch !== "function") {
      throw new Error(`serviceFetch: services.${name} has no fetch()`);
    }
    table.set(key, handler);
  }
  return async (request: Request): Promise<Response> => {
    const host = new URL(request.url).hostname;
    if (!host.endsWith(SERVICE_HOST_SUFFIX)) return network(request);
    const handler = table.get(host.slice(0, -SERVICE_HOST_SUFFIX.length));
    if (!handler) throw new TypeError(`no service bound for ${host}`); // forward() → 502
    return await handler.fetch(request);
  };
}
