/**
 * In-process origins: `service:NAME` routes name a handler given to the gateway, or a Workers
 * service binding (both are `{ fetch(Request) }`). `forward()` looks the name up here and
 * calls the handler directly, with the request's real URL (the client's scheme, host and
 * path), so a service sees what it would see behind any other proxy. The network fetch never
 * receives a service route: a name without a handler fails the request (502), it never falls
 * through to the network.
 */

export interface FetchHandler {
  fetch(request: Request): Response | Promise<Response>;
}

/** Looks up a service handler by name (case-insensitive); null when none is bound. */
export type ServiceLookup = (name: string) => FetchHandler | null;

export function serviceLookup(services: Record<string, FetchHandler>): ServiceLookup {
  const table = new Map<string, FetchHandler>();
  for (const [name, handler] of Object.entries(services)) {
    const key = name.toLowerCase();
    if (table.has(key)) {
      throw new Error(`serviceLookup: services "${name}" collide (names are case-insensitive)`);
    }
    if (typeof handler?.fetch !== "function") {
      throw new Error(`serviceLookup: services.${name} has no fetch()`);
    }
    table.set(key, handler);
  }
  return (name) => table.get(name.toLowerCase()) ?? null;
}
