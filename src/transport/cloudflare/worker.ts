/**
 * pqgate on Cloudflare Workers: the Worker (`createWorker`) and its Durable Object class
 * (`PqgateSession`), exported as `pqgate/cloudflare` (src/cloudflare.ts). A user's Worker is
 *
 *   export { PqgateSession } from "pqgate/cloudflare";
 *   import { createWorker } from "pqgate/cloudflare";
 *   export default createWorker();
 *
 * plus wrangler.toml (docs/cloudflare.md). The Worker serves the same Hono app as the Deno
 * gateway (key configuration, health); each channel upgrade goes to its own Durable Object,
 * which accepts the socket with the hibernation API and runs the ServerSession
 * (session-object.ts).
 *
 * Sharding: one object per connection (`newUniqueId()`). A Durable Object is single-threaded,
 * sessions share no state, and a handshake or a 1 MiB body costs milliseconds of CPU: a shared
 * object would serialize every session behind every other. A unique id is created next to the
 * Worker that handles the upgrade (low latency), needs no naming scheme, cannot be addressed
 * by a client, and hibernates independently of every other connection.
 *
 * Options: `createWorker(options)` records them for the whole isolate, because the Durable
 * Object (exported separately, instantiated by the runtime) builds the same gateway: one
 * `createWorker` call per Worker script, at module evaluation.
 */
import {
  createGateway,
  type Gateway,
  type GatewayOptions,
  UPGRADE_ENV_KEY,
  type Upgrader,
} from "../../gateway/create-gateway.ts";
import { wasmArgon2 } from "../../auth/argon2.ts";
import type { Argon2Backend } from "../../auth/options.ts";
import { type GatewayAuth, isVerifier } from "../../gateway/auth-options.ts";
import { configFail } from "../../gateway/config-error.ts";
import {
  ConfigError,
  envCacheKey,
  gatewayOptionsFromEnv,
  parseLogLevel,
} from "../../gateway/config.ts";
import { ServerSession } from "../../tunnel/server-session.ts";
import { helloFromUpgrade } from "../../tunnel/client-hello.ts";
import {
  CLIENT_ADDRESS_HEADER,
  definePqgateSession,
  type SessionObjectClass,
} from "./session-object.ts";
import { serviceBindings, type WorkerEnv } from "./worker-env.ts";
import { checkWorkersMaxWsMessage, workerWebSockets } from "./worker-websockets.ts";
import { createLogWriter } from "../../gateway/log-writer.ts";
import {
  emit,
  type EventFields,
  type EventLog,
  type EventName,
  teeLogs,
} from "../../tunnel/events.ts";
import { ANALYTICS_BINDING, analyticsLog } from "./analytics.ts";
import { NOBLE_WARM_UP_ROUNDS, warmUp, warmUpSelected } from "./warmup.ts";

export type { WorkerEnv };

/**
 * What the code adds to (or overrides in) the configuration from env (PQGATE_* variables and
 * bindings). Keys always come from the PQGATE_KEYS secret. `services` are merged over the
 * service bindings that `service:NAME` routes name; every other field replaces the env value.
 * A function is called with the Worker's env whenever the gateway is (re)built.
 */
export type CreateWorkerOptions = Omit<GatewayOptions, "keys" | "upgrade"> & {
  /**
   * The Argon2id WebAssembly module for password authentication (PQGATE_USERS): workerd
   * compiles no WebAssembly at run time, so the Worker imports the `argon2id` package's
   * `dist/simd.wasm` as a module (wrangler's CompiledWasm rule) and passes it here.
   */
  argon2Wasm?: WebAssembly.Module;
};

/** The Worker's module export: `export default createWorker()`. */
export interface PqgateWorker {
  fetch(request: Request, env: WorkerEnv, ctx: unknown): Promise<Response>;
}

type OptionsSource = CreateWorkerOptions | ((env: WorkerEnv) => CreateWorkerOptions);

/** The isolate's options (the last `createWorker` call) and its cached gateway. */
let registered: OptionsSource = {};
/** Per-isolate cache, keyed by the raw configuration strings (a new deploy = a new isolate). */
let cached: { key: string; options: OptionsSource; gateway: Gateway } | null = null;
/** The writer of the Worker's own lines (made at the first, see `log`). */
let ownLines: EventLog | undefined;
/** The bindings as seen at module evaluation (`cloudflare:workers` env), where available. */
let startupEnv: WorkerEnv | null = null;

// Start-up (module evaluation, once per isolate; Workers gives it its own CPU allowance, apart
// from the 10 ms per request/message of Workers Free): JIT warm-up of the protocol core here;
// then, in createWorker (also module evaluation, of the user's entry), the gateway itself built
// from the bindings: X-Wing key expansion and, with PQGATE_CRYPTO=auto, the crypto backend
// selection (self-tests against noble) and a warm-up handshake on the selected backends. So no
// request or WebSocket message ever pays for the selection. Where the env import is not
// available, the selection starts at the first connection instead (PqgateSession below).
// PQGATE_CRYPTO=noble runs only noble code (its static keys expanded once, like auto's):
// NOBLE_WARM_UP_ROUNDS warm-up handshakes then (warmup.ts says why), one otherwise.
try {
  const spec = "cloudflare:workers"; // a variable: neither Deno nor tsc knows the scheme
  startupEnv = ((await import(spec)) as { env?: WorkerEnv }).env ?? null;
} catch { /* not on workerd (unit tests) */ }
try {
  warmUp(startupEnv?.PQGATE_CRYPTO === "noble" ? NOBLE_WARM_UP_ROUNDS : 1);
} catch (e) {
  log("cf.warmup_failed", { error: String((e as Error)?.message ?? e) });
}

/**
 * The Worker's own lines (start-up, configuration), in the log writer's format; they come before
 * a gateway (and its PQGATE_LOG level) exists, and are all errors, so they are always written.
 */
function log<E extends EventName>(event: E, fields: EventFields[E]): void {
  ownLines ??= createLogWriter({ level: "debug", write: (line) => console.log(line) })!;
  emit(ownLines, event, fields);
}

async function startUp(env: WorkerEnv): Promise<void> {
  if (!env.PQGATE_KEYS) return;
  try {
    const gateway = gatewayFor(env);
    await gateway.cryptoReport();
    // Both modes: PQGATE_CRYPTO=noble also holds a backend (noble parts, static keys expanded).
    await warmUpSelected(gateway.sessionConfig);
  } catch (e) {
    // A configuration error is reported per request (503); nothing else is fatal here.
    if (!isConfigError(e)) {
      log("cf.startup_failed", { error: String((e as Error)?.message ?? e) });
    }
  }
}

function isConfigError(e: unknown): boolean {
  return e instanceof ConfigError;
}

/**
 * The gateway for these bindings and the registered options, built once per isolate (again
 * only if the configuration strings change). Throws ConfigError naming the variable.
 */
export function gatewayFor(env: WorkerEnv): Gateway {
  const cacheKey = envCacheKey(env);
  if (cached?.key === cacheKey && cached.options === registered) return cached.gateway;
  const options = registered;
  const { logOff: _, ...fromEnv } = gatewayOptionsFromEnv(env);
  const logLevel = parseLogLevel(env.PQGATE_LOG);
  const { argon2Wasm, ...extra } = typeof options === "function" ? options(env) : options;
  const routes = extra.routes ?? fromEnv.routes;
  const auth = withArgon2(extra.auth ?? fromEnv.auth, argon2Wasm);
  const limits = extra.limits ?? fromEnv.limits;
  checkWorkersMaxWsMessage(limits?.maxWsMessage, extra.limits ? "limits" : "PQGATE_LIMITS");
  const bindings = serviceBindings(routes, env);
  // The observation seam's two Worker sinks: JSON lines through console.log (Workers Logs)
  // at PQGATE_LOG's level, and Analytics Engine data points when the binding exists.
  const lines = createLogWriter({ level: logLevel, write: (line) => console.log(line) });
  const gateway = createGateway({
    ...fromEnv,
    log: teeLogs(lines, analyticsLog(env[ANALYTICS_BINDING])),
    ...extra,
    routes,
    auth,
    limits,
    services: { ...bindings, ...extra.services },
    websockets: workerWebSockets(routes, bindings, fromEnv.websockets, extra.websockets),
  });
  cached = { key: cacheKey, options, gateway };
  return gateway;
}

/** One Argon2id backend per module (instantiated at the first verification). */
const argon2Backends = new WeakMap<WebAssembly.Module, Argon2Backend>();

/**
 * Password authentication needs the Argon2id module on Workers: attach its backend, or refuse
 * the configuration with the variable's name (a clear error, not a sign-in that always fails).
 */
function withArgon2(auth: GatewayAuth | undefined, wasm: unknown): GatewayAuth | undefined {
  if (auth === undefined || isVerifier(auth) || !auth.password || auth.argon2) return auth;
  if (!(wasm instanceof WebAssembly.Module)) {
    configFail(
      { path: ["PQGATE_USERS"] },
      'is set, but the Worker has no Argon2id module: `import argon2Wasm from "argon2id/dist/simd.wasm"` and `createWorker({ argon2Wasm })` (docs/cloudflare.md)',
    );
  }
  let backend = argon2Backends.get(wasm);
  if (!backend) {
    let ready: Promise<Argon2Backend> | null = null;
    backend = { hash: async (...a) => (await (ready ??= wasmArgon2(wasm))).hash(...a) };
    argon2Backends.set(wasm, backend);
  }
  return { ...auth, argon2: backend };
}

/**
 * The Cloudflare upgrade hook: hand the request to a fresh Durable Object. The client address
 * comes from CF-Connecting-IP (set by Cloudflare's edge; a client cannot forge it) and travels
 * in a header the Worker sets itself; a Durable Object is not reachable from outside.
 */
const upgradeToObject: Upgrader = ({ request, env }) => {
  // A hello parameter longer than any ClientHello is refused here, before a Durable Object
  // exists (PROTOCOL.md §1); the object reads the hello itself.
  const reading = helloFromUpgrade(request.url, request.headers.get("sec-websocket-protocol"));
  if (reading.kind === "refuse") {
    emit(gatewayFor(env as WorkerEnv).sessionConfig.log, "refused", {
      reason: "upgrade_hello",
      status: reading.status,
    });
    return new Response(reading.message + "\n", {
      status: reading.status,
      headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" },
    });
  }
  const ns = (env as WorkerEnv).PQGATE_SESSION;
  const headers = new Headers(request.headers);
  headers.delete(CLIENT_ADDRESS_HEADER);
  const address = request.headers.get("cf-connecting-ip");
  if (address) headers.set(CLIENT_ADDRESS_HEADER, address);
  return ns.get(ns.newUniqueId()).fetch(new Request(request.url, { method: "GET", headers }));
};

function configFailure(e: unknown): Response {
  const message = isConfigError(e) ? (e as Error).message : "gateway misconfigured";
  log("cf.config_error", { message });
  return Response.json({ error: "misconfigured", message }, { status: 503 });
}

/**
 * The Worker: `export default createWorker(options?)`. Configuration from env (PQGATE_KEYS
 * secret, PQGATE_* vars, bindings), with `options` over it; a misconfiguration answers 503 with
 * the variable's name. Call it once, at module evaluation (the options apply to the isolate).
 */
export function createWorker(options: OptionsSource = {}): PqgateWorker {
  registered = options;
  if (startupEnv) void startUp(startupEnv);
  return {
    fetch(request, env, ctx) {
      let gateway: Gateway;
      try {
        gateway = gatewayFor(env);
      } catch (e) {
        const path = new URL(request.url).pathname;
        if (path === "/healthz") {
          return Promise.resolve(Response.json({ status: "misconfigured" }, { status: 503 }));
        }
        // Not ready: the PQGATE_KEYS secret or a PQGATE_* variable does not parse (the
        // variable's name is in every other answer's message and in the log, not here).
        if (path === "/readyz") {
          return Promise.resolve(
            Response.json({ status: "not_ready", reason: "misconfigured" }, {
              status: 503,
              headers: { "cache-control": "no-store" },
            }),
          );
        }
        return Promise.resolve(configFailure(e));
      }
      const appEnv = { ...env, [UPGRADE_ENV_KEY]: upgradeToObject };
      return Promise.resolve(gateway.app.fetch(request, appEnv, ctx as never));
    },
  };
}

const PqgateSessionBase: SessionObjectClass<WorkerEnv> = definePqgateSession<WorkerEnv>((env) => {
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
    auth: sessionConfig.auth,
    limits: sessionConfig.limits,
    handler: sessionConfig.handler,
    log: sessionConfig.log,
    crypto: sessionConfig.crypto,
  };
});

/** The Durable Object class named in wrangler.toml (binding PQGATE_SESSION). */
export class PqgateSession extends PqgateSessionBase {}
