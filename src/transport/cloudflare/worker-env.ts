/**
 * Worker configuration, the Cloudflare way (docs/cloudflare.md): the PQGATE_* variables are
 * parsed by the one environment parser (src/gateway/env-config.ts, shared with Deno Deploy);
 * this file adds what only a Worker has: its bindings (the Durable Object namespace, service
 * bindings named by `service:NAME` routes).
 */
import { ConfigError, type GatewayEnv } from "../../gateway/env-config.ts";
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
  for (const [i, r] of (routes ?? []).entries()) {
    const origin = typeof r?.origin === "string" ? r.origin : "";
    if (!origin.startsWith("service:")) continue;
    const name = origin.slice("service:".length);
    const b = env[name] as Fetcher | undefined;
    if (!b || typeof b.fetch !== "function") {
      throw new ConfigError(
        `PQGATE_ROUTES[${i}].origin is service:${name}, but the Worker has no service binding ${name}`,
      );
    }
    out[name] = { fetch: (req: Request | string | URL, init?: RequestInit) => b.fetch(req, init) };
  }
  return out;
}
