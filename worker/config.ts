/**
 * Worker configuration, the Cloudflare way (docs/cloudflare.md): the PQGATE_* variables are
 * parsed by the one environment parser (src/gateway/env-config.ts, shared with Deno Deploy);
 * this file adds what only a Worker has: its bindings (the Durable Object namespace, service
 * bindings named by `service:NAME` routes, the test-hook switch).
 */
import { ConfigError, type GatewayEnv } from "../src/gateway/env-config.ts";
import type { RouteConfig } from "../src/proxy/routes.ts";
import type { DurableObjectNamespace, Fetcher } from "../src/transport/cloudflare/platform.ts";

export {
  ConfigError as WorkerConfigError,
  parseAllowedOrigins,
  parseBool,
  parseCrypto,
  parseKeys,
  parseLimits,
  parseMs,
  parseRoutes,
} from "../src/gateway/env-config.ts";

/** The Worker's bindings (wrangler.toml). Service bindings named by routes are looked up by name. */
export interface WorkerEnv extends GatewayEnv {
  PQGATE_SESSION: DurableObjectNamespace;
  /** Test bindings only (never in wrangler.toml): enables /__pqgate_test/* routes. */
  PQGATE_TEST_HOOKS?: string;
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

