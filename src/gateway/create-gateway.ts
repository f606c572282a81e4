/**
 * The gateway as a Hono app: key configuration, health check and the channel endpoint.
 * Platform-neutral: the WebSocket upgrade is a hook the transport provides (Deno and
 * Cloudflare upgrade differently), either as `options.upgrade` or through the Hono env under
 * `UPGRADE_ENV_KEY` (what `serveDeno` does).
 *
 *   GET /.well-known/pqgate   key configuration (PROTOCOL.md §8)
 *   GET /healthz              {"status":"ok"}
 *   GET <channelPath>         WebSocket upgrade → one ServerSession per socket; else 426
 *
 * Mountable: `parent.route("/pq", gateway.app)` serves all three under /pq.
 */
import { type Context, Hono } from "hono";
import { type SuiteId, SUITES } from "../protocol/constants.ts";
import type { StaticKey } from "../protocol/types.ts";
import { compileRoutes, type RouteConfig, type RouteTable } from "../proxy/routes.ts";
import { ServerSession } from "../tunnel/server-session.ts";
import type { Env, RequestHandler, SessionLimits, Socket } from "../tunnel/types.ts";
import { type KeyConfiguration, keyConfiguration } from "./key-config.ts";
import {
  configError,
  DEFAULT_ORIGIN_TIMEOUT_MS,
  type GatewayLog,
  type ServiceBinding,
  validateChannelPath,
  validateEnv,
  validateFunction,
  validateKeys,
  validateLimits,
  validatePositiveMs,
  validateServices,
  validateSuites,
} from "./options.ts";
import { createRequestHandler, DEMO_ROUTES } from "./request-handler.ts";

/** The Hono env key under which a transport may pass its upgrade hook per request. */
export const UPGRADE_ENV_KEY = "pqgateUpgrade";

export interface GatewayOptions {
  /** One or more static keys; all are live (rotation: add the new key, move pins, drop the old). */
  keys: StaticKey | StaticKey[];
  /** Route table (src/proxy/routes.ts). Default: the embedded demo origin at https://demo/. */
  routes?: readonly RouteConfig[];
  /** Handlers for `service:NAME` origins (Workers service bindings, Hono apps, functions). */
  services?: Record<string, ServiceBinding>;
  /** Accept anonymous-mode clients (no pin; TLS-only trust). Default false. */
  allowAnonymous?: boolean;
  /** Enabled suites, gateway preference first. Default: all of `SUITES`. */
  suites?: SuiteId[];
  /** Per-session limits; missing fields take DEFAULT_LIMITS. */
  limits?: Partial<SessionLimits>;
  /** Time to origin response headers before 504 (a route's `timeoutMs` overrides). Default 30 s. */
  originTimeoutMs?: number;
  /** fetch used for origin calls. Default: globalThis.fetch. */
  fetch?: typeof fetch;
  /** Path of the channel endpoint. Default "/pqgate". */
  channelPath?: string;
  /** Platform WebSocket upgrade (see `Upgrader`); else taken from the env per request. */
  upgrade?: Upgrader;
  /** Clock and randomness (tests). Default: Date.now and crypto.getRandomValues. */
  env?: Env;
  log?: GatewayLog;
}

/** The session a transport drives (implemented by ServerSession). */
export interface GatewaySession {
  receive(message: Uint8Array<ArrayBuffer> | string): unknown;
  onSocketClose(code: number, reason: string): void;
  nextDeadline(): number | null | undefined;
  onTimer(now: number): void;
  shutdown(): void;
}

export interface UpgradeArgs {
  /** The upgrade request (GET with `Upgrade: websocket`). */
  request: Request;
  /** The platform env Hono received (Deno: { remoteAddr }, Workers: bindings). */
  env: unknown;
  context: Context;
  /** Creates the ServerSession for an accepted socket; the transport feeds it events. */
  createSession(socket: Socket, clientAddress: string | null): GatewaySession;
  /** The gateway clock (ms), for `onTimer(now)` and deadlines. */
  clock(): number;
}

/** Accepts the WebSocket on this platform and returns the 101 (or an error) response. */
export type Upgrader = (args: UpgradeArgs) => Response | Promise<Response>;

/** What a transport needs to build sessions itself (e.g. inside a Durable Object). */
export interface SessionConfig {
  keys: StaticKey[];
  suites: SuiteId[];
  allowAnonymous: boolean;
  limits: SessionLimits;
  handler: RequestHandler;
  env: Env;
  log?: GatewayLog;
}

export interface Gateway {
  /** The Hono app: `Deno.serve(gateway.app.fetch)` needs a transport; see serveDeno. */
  app: Hono;
  channelPath: string;
  /** The JSON served at /.well-known/pqgate. */
  keyConfig: KeyConfiguration;
  /**
   * The /.well-known/pqgate handler on its own, for a parent app that mounts the gateway under
   * a prefix: clients fetch the key configuration from the ROOT of the host (RFC 8615), so
   * `parent.get("/.well-known/pqgate", gateway.keyConfigHandler)`.
   */
  keyConfigHandler: () => Response;
  routes: RouteTable;
  sessionConfig: SessionConfig;
  /** Route match (403 if none, no connection) + forward with header hygiene. */
  handler: RequestHandler;
  createSession(socket: Socket, clientAddress: string | null): GatewaySession;
}

const defaultEnv: Env = {
  now: () => Date.now(),
  random: (n) => crypto.getRandomValues(new Uint8Array(n)),
};

export function createGateway(options: GatewayOptions): Gateway {
  if (typeof options !== "object" || options === null) configError("options must be an object");
  const known = new Set([
    "keys",
    "routes",
    "services",
    "allowAnonymous",
    "suites",
    "limits",
    "originTimeoutMs",
    "fetch",
    "channelPath",
    "upgrade",
    "env",
    "log",
  ]);
  for (const k of Object.keys(options)) {
    if (!known.has(k)) configError(`options.${k} is not a known option`);
  }
  const keys = validateKeys(options.keys);
  const suites = validateSuites(options.suites);
  const limits = validateLimits(options.limits);
  const channelPath = validateChannelPath(options.channelPath);
  const originTimeoutMs = validatePositiveMs(
    "originTimeoutMs",
    options.originTimeoutMs,
    DEFAULT_ORIGIN_TIMEOUT_MS,
  );
  const fetchImpl = validateFunction<typeof fetch>("fetch", options.fetch) ??
    ((i, init) => fetch(i, init));
  const upgradeOpt = validateFunction<Upgrader>("upgrade", options.upgrade);
  const log = validateFunction<GatewayLog>("log", options.log);
  const env = validateEnv(options.env) ?? defaultEnv;
  const services = validateServices(options.services);
  if (options.allowAnonymous !== undefined && typeof options.allowAnonymous !== "boolean") {
    configError("options.allowAnonymous must be a boolean");
  }
  const allowAnonymous = options.allowAnonymous ?? false;

  let routes: RouteTable;
  const routeConfig = options.routes ?? DEMO_ROUTES;
  try {
    routes = compileRoutes(routeConfig);
  } catch (e) {
    configError(
      `options.${(e as Error).message.startsWith("routes") ? "" : "routes: "}${
        (e as Error).message
      }`,
    );
  }
  for (const r of routes.routes) {
    if (
      r.origin.kind === "service" && !(r.origin.name in services) && options.routes !== undefined
    ) {
      configError(
        `options.routes[${r.index}].origin names service:${r.origin.name}, which options.services does not provide`,
      );
    }
  }

  const handler = createRequestHandler({
    routes,
    services,
    fetch: fetchImpl,
    originTimeoutMs,
    maxBodyBytes: limits.maxBodyBytes,
    demo: options.routes === undefined,
    log,
  });

  const sessionConfig: SessionConfig = { keys, suites, allowAnonymous, limits, handler, env, log };
  const createSession = (socket: Socket, clientAddress: string | null): GatewaySession =>
    new ServerSession({
      socket,
      keys,
      suites,
      allowAnonymous,
      env,
      limits,
      handler,
      clientAddress,
      log,
    });

  const keyConfig = keyConfiguration(keys, suites);
  const keyConfigJson = JSON.stringify(keyConfig);

  const keyConfigHandler = () =>
    new Response(keyConfigJson, {
      headers: {
        "content-type": "application/json",
        // Public data; browsers on other origins read it before connecting.
        "access-control-allow-origin": "*",
        // Short, so a rotation reaches clients quickly.
        "cache-control": "public, max-age=60",
      },
    });

  const app = new Hono();
  app.get("/.well-known/pqgate", keyConfigHandler);
  app.get("/healthz", (c) => c.json({ status: "ok" }, 200, { "cache-control": "no-store" }));
  app.all(channelPath, async (c) => {
    const upgradeHeader = c.req.header("upgrade") ?? "";
    if (c.req.method !== "GET" || upgradeHeader.toLowerCase() !== "websocket") {
      return c.json(
        {
          error: "upgrade_required",
          message: `connect a pqgate client with a WebSocket to ${channelPath}`,
        },
        426,
        { upgrade: "websocket", connection: "Upgrade" },
      );
    }
    const upgrade = upgradeOpt ??
      (c.env as Record<string, unknown> | undefined)?.[UPGRADE_ENV_KEY] as Upgrader | undefined;
    if (typeof upgrade !== "function") {
      log?.("gateway.no_transport", {});
      return c.json(
        { error: "no_transport", message: "this gateway has no WebSocket transport" },
        501,
      );
    }
    return await upgrade({
      request: c.req.raw,
      env: c.env,
      context: c,
      createSession,
      clock: env.now,
    });
  });

  return {
    app,
    channelPath,
    keyConfig,
    keyConfigHandler,
    routes,
    sessionConfig,
    handler,
    createSession,
  };
}

export { SUITES };
