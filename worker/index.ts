/**
 * pqgate on Cloudflare Workers.
 *
 * The Worker serves the same Hono app as the Deno gateway (key configuration, health); each
 * channel upgrade goes to its own Durable Object (`PqgateSession`), which accepts the socket
 * with the hibernation API and runs the ServerSession (src/transport/cloudflare/).
 *
 * Sharding: one object per connection (`newUniqueId()`). A Durable Object is single-threaded,
 * sessions share no state, and a handshake or a 1 MiB body costs milliseconds of CPU: a shared
 * object would serialize every session behind every other. A unique id is created next to the
 * Worker that handles the upgrade (low latency), needs no naming scheme, cannot be addressed
 * by a client, and hibernates independently of every other connection. See docs/cloudflare.md.
 */
import { createGateway, type Gateway, UPGRADE_ENV_KEY, type Upgrader } from "../src/gateway/create-gateway.ts";
import { ServerSession } from "../src/tunnel/server-session.ts";
import {
  CLIENT_ADDRESS_HEADER,
  definePqgateSession,
  TEST_HOOK_PREFIX,
} from "../src/transport/cloudflare/session-object.ts";
import { ConfigError, envCacheKey, gatewayOptionsFromEnv } from "../src/gateway/env-config.ts";
import { serviceBindings, type WorkerEnv } from "./config.ts";
import { warmUp, warmUpSelected } from "./warmup.ts";

export type { WorkerEnv };

/** Per-isolate cache, keyed by the raw configuration strings (a new deploy = a new isolate). */
let cached: { key: string; gateway: Gateway } | null = null;

// Start-up (module evaluation, once per isolate; Workers gives it its own CPU allowance, apart
// from the 10 ms per request/message of Workers Free): JIT warm-up of the protocol core, then
// the gateway itself built from the bindings (`cloudflare:workers` env): X-Wing key expansion
// and, with PQGATE_CRYPTO=auto, the crypto backend selection (self-tests against noble) and a
// warm-up handshake on the selected backends. So no request or WebSocket message ever pays for
// the selection. Where the env import is not available, the selection falls back to starting
// at the first connection (see PqgateSession below). Measured in docs/cloudflare.md.
try {
  warmUp();
} catch (e) {
  console.log(JSON.stringify({ event: "cf.warmup_failed", error: String((e as Error)?.message ?? e) }));
}
await startUp();

async function startUp(): Promise<void> {
  let env: WorkerEnv;
  try {
    const spec = "cloudflare:workers"; // a variable: Deno's type check does not know the scheme
    env = (await import(spec)).env as WorkerEnv;
    if (!env?.PQGATE_KEYS) return;
  } catch {
    return;
  }
  try {
    const gateway = gatewayFor(env);
    const report = await gateway.cryptoReport();
    if (report.mode === "auto") await warmUpSelected(gateway.sessionConfig);
  } catch (e) {
    // A configuration error is reported per request (503); nothing else is fatal here.
    if (!(e instanceof ConfigError) && (e as Error)?.name !== "GatewayConfigError") {
      console.log(JSON.stringify({ event: "cf.startup_failed", error: String((e as Error)?.message ?? e) }));
    }
  }
}

function log(event: string, fields?: Record<string, unknown>): void {
  console.log(JSON.stringify({ event, ...fields }));
}

export function gatewayFor(env: WorkerEnv): Gateway {
  const cacheKey = envCacheKey(env);
  if (cached?.key === cacheKey) return cached.gateway;
  const { logOff, ...options } = gatewayOptionsFromEnv(env);
  const gateway = createGateway({
    ...options,
    services: serviceBindings(options.routes, env),
    log: logOff ? undefined : log,
  });
  cached = { key: cacheKey, gateway };
  return gateway;
}

function testHooks(env: WorkerEnv): boolean {
  return env.PQGATE_TEST_HOOKS === "1";
}

/**
 * The Cloudflare upgrade hook: hand the request to a fresh Durable Object. The client address
 * comes from CF-Connecting-IP (set by Cloudflare's edge; a client cannot forge it) and travels
 * in a header the Worker sets itself; a Durable Object is not reachable from outside.
 */
const upgradeToObject: Upgrader = ({ request, env }) => {
  const e = env as WorkerEnv;
  const url = new URL(request.url);
  const name = testHooks(e) ? url.searchParams.get("__object") : null;
  const id = name ? e.PQGATE_SESSION.idFromName(name) : e.PQGATE_SESSION.newUniqueId();
  const headers = new Headers(request.headers);
  headers.delete(CLIENT_ADDRESS_HEADER);
  const address = request.headers.get("cf-connecting-ip");
  if (address) headers.set(CLIENT_ADDRESS_HEADER, address);
  return e.PQGATE_SESSION.get(id).fetch(new Request(request.url, { method: "GET", headers }));
};

function configFailure(e: unknown): Response {
  const message = e instanceof ConfigError || (e as Error)?.name === "GatewayConfigError"
    ? (e as Error).message
    : "gateway misconfigured";
  log("cf.config_error", { message });
  return Response.json({ error: "misconfigured", message }, { status: 503 });
}

export default {
  async fetch(request: Request, env: WorkerEnv, ctx: unknown): Promise<Response> {
    const url = new URL(request.url);
    if (testHooks(env) && url.pathname.startsWith(TEST_HOOK_PREFIX)) {
      // /__pqgate_test/<object name>/<hook> → that object's hook (tests only).
      const [name, hook] = url.pathname.slice(TEST_HOOK_PREFIX.length).split("/");
      if (!name || !hook) return new Response("bad hook path", { status: 400 });
      const object = env.PQGATE_SESSION.get(env.PQGATE_SESSION.idFromName(name));
      return object.fetch(`https://object${TEST_HOOK_PREFIX}${hook}`);
    }
    let gateway: Gateway;
    try {
      gateway = gatewayFor(env);
    } catch (e) {
      if (url.pathname === "/healthz") {
        return Response.json({ status: "misconfigured" }, { status: 503 });
      }
      return configFailure(e);
    }
    return gateway.app.fetch(request, { ...env, [UPGRADE_ENV_KEY]: upgradeToObject }, ctx as never);
  },
};

/** The Durable Object class named in wrangler.toml. */
export class PqgateSession extends definePqgateSession<WorkerEnv>((env) => {
  const gateway = gatewayFor(env);
  const { sessionConfig } = gateway;
  // Normally already done at start-up (above). If not (no `cloudflare:workers` env import),
  // start the selection now without waiting: connections before it finished use noble.
  void gateway.cryptoReport();
  return {
    Session: ServerSession,
    keys: sessionConfig.keys,
    suites: sessionConfig.suites,
    allowAnonymous: sessionConfig.allowAnonymous,
    limits: sessionConfig.limits,
    handler: sessionConfig.handler,
    log: sessionConfig.log,
    crypto: sessionConfig.crypto,
    testHooks: testHooks(env),
  };
}) {}
