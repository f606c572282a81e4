/**
 * Worker configuration, the Cloudflare way (docs/cloudflare.md): the PQGATE_* variables are
 * parsed by the one configuration parser (src/gateway/config.ts, shared with Deno Deploy and
 * config files); this file adds what only a Worker has: its bindings (the Durable Object
 * namespace, service bindings named by `service:NAME` routes).
 */
import { configFail, type GatewayEnv, serviceOrigins } from "../../gateway/config.ts";
import type { RouteConfig } from "../../proxy/routes.ts";
import type { DurableObjectNamespace, Fetcher } from "./platform.ts";

/** The Worker's bindings (wrangler.toml). Service bindings named by routes are looked up by name. */
export interface WorkerEnv extends GatewayEnv {
  PQGATE_SESSION: DurableObjectNamespace;
  [binding: string]: unknown;
}

/** Service names referenced by `service:NAME` origins, bound from `env[NAME]`. */
export function serviceBindings(
  routes: readonly RouteConfig[] | undefined,
  env: WorkerEnv,
): Record<string, Fetcher> {
  const out: Record<string, Fetcher> = {};
  for (const { index, name } of serviceOrigins(routes)) {
    const b = env[name] as Fetcher | undefined;
    if (!b || typeof b.fetch !== "function") {
      configFail(
        { path: ["PQGATE_ROUTES", index, "origin"] },
        `is service:${name}, but the Worker has no service binding ${name}`,
      );
    }
    out[name] = { fetch: (req: Request | string | URL, init?: RequestInit) => b.fetch(req, init) };
  }
  return out;
}
