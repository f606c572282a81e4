/**
 * The gateway as a Hono app: key configuration, health check and the channel endpoint.
 * Platform-neutral: the WebSocket upgrade is a hook the transport provides (Deno and
 * Cloudflare upgrade differently), either as `options.upgrade` or through the Hono env under
 * `UPGRADE_ENV_KEY` (what `serveDeno` does).
 *
 *   GET /.well-known/pqgate   key configuration (PROTOCOL.md §8)
 *   GET /healthz              {"status":"ok"}: the process is alive
 *   GET /readyz               200 {"status":"ready"} or 503 {"status":"not_ready","reason"}
 *   GET <channelPath>         WebSocket upgrade → one ServerSession per socket; else 426;
 *                             403 before the upgrade when the page's Origin is not allowed
 *
 * Every JSON answer carries `X-Content-Type-Options: nosniff`.
 *
 * Mountable: `parent.route("/pq", gateway.app)` serves all three under /pq.
 */
import { type Context, Hono } from "hono";
import type { BackendReport, Backends, ConnectionKem } from "../crypto/select.ts";
import { type SuiteId, SUITES } from "../protocol/constants.ts";
import type { StaticKey } from "../protocol/types.ts";
import { platformOriginFetch, platformOriginFetchUrl } from "../proxy/origin-fetch.ts";
import { compileRoutes, type RouteConfig, type RouteTable } from "../proxy/routes.ts";
import { ServerSession } from "../tunnel/server-session.ts";
import { type CryptoBackendReport, emit } from "../tunnel/events.ts";
import type { GatewaySession, SessionCrypto, SessionFactory } from "../tunnel/session-seam.ts";
import type { AuthVerifier, Env, RequestHandler, SessionLimits, Socket } from "../tunnel/types.ts";
import { unreachableAuthRoutes } from "./auth-config.ts";
import { buildAuthVerifier, type GatewayAuth } from "./auth-options.ts";
import { type KeyConfiguration, keyConfiguration } from "./key-config.ts";
import {
  configError,
  configErrorWith,
  DEFAULT_ORIGIN_BODY_IDLE_TIMEOUT_MS,
  DEFAULT_ORIGIN_TIMEOUT_MS,
  type GatewayLog,
  optionAt,
  routeError,
  type ServiceBinding,
  validateChannelPath,
  validateEnv,
  validateFunction,
  validateKeys,
  validateLimits,
  validateOptionalMs,
  validatePositiveMs,
  validateServices,
  validateSuites,
} from "./options.ts";
import { corsHeaders, originAllowed, parseAllowedOrigins } from "./origin-policy.ts";
import { createRequestHandler, DEMO_AUTH_ROUTES, DEMO_ROUTES } from "./request-handler.ts";
import { resolveWebSockets, type WebSocketOptions } from "./websocket-options.ts";

/** On every JSON answer of the app: browsers must not sniff it into something else. */
const NOSNIFF = { "x-content-type-options": "nosniff" } as const;

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
  /**
   * Client authentication (docs/configuration.md §6): src/auth's `AuthOptions` (the verifier is
   * built here, its JWKS fetch restricted to the route table's origins; `argon2` an Argon2id
   * backend of your own) or a ready `AuthVerifier`. Absent: no method is enabled, and a route
   * with `auth` "optional" / "required" is refused. Without `routes`, the demo routes then
   * include `https://demo/api/me`, which requires authentication.
   */
  auth?: GatewayAuth;
  /** Enabled suites, gateway preference first. Default: both, in the per-runtime order of `defaultSuites()` (src/gateway/options.ts). */
  suites?: SuiteId[];
  /**
   * Per-session limits; missing fields take DEFAULT_LIMITS. `maxWsMessage` (the offered
   * max_ws_message) defaults to 1 MiB when the routes have a WebSocket route, else 0.
   */
  limits?: Partial<SessionLimits>;
  /**
   * Tunneled WebSockets (PROTOCOL.md §6.9, docs/websockets.md): the connector that opens origin
   * WebSockets (default: the platform's), `service:` WebSocket routes' connectors, and caps.
   */
  websockets?: WebSocketOptions;
  /** Time to origin response headers before 504 (a route's `timeoutMs` overrides). Default 30 s. */
  originTimeoutMs?: number;
  /**
   * Response-body idle timeout (ms, 0 = none; a route's `bodyIdleTimeoutMs` overrides): an origin
   * that sends no body byte for this long while the client waits has its stream reset and its
   * request aborted. Default 30 s.
   */
  originBodyIdleTimeoutMs?: number;
  /**
   * fetch used for origin calls. Default: the platform fetch (on Deno, a streamed upload with
   * a declared length goes through node:http so it keeps its content-length: origin-fetch.ts).
   */
  fetch?: typeof fetch;
  /** Path of the channel endpoint. Default "/pqgate". */
  channelPath?: string;
  /**
   * Web pages (browser origins) that may open a channel and read the key configuration
   * (src/gateway/origin-policy.ts): exact origins like "https://app.example.com", `[]` for none,
   * `["*"]` for any. Default: same origin only (a page served by the gateway's own host).
   * An upgrade whose Origin is present and not allowed gets 403 before the upgrade; requests
   * without Origin (non-browser clients) are always allowed.
   */
  allowedOrigins?: readonly string[];
  /** Platform WebSocket upgrade (see `Upgrader`); else taken from the env per request. */
  upgrade?: Upgrader;
  /** Clock and randomness (tests). Default: Date.now and crypto.getRandomValues. */
  env?: Env;
  log?: GatewayLog;
  /**
   * Crypto backends (src/crypto). "auto" (default): native ML-KEM (WebCrypto), X25519, SHA3 and
   * AEADs (node:crypto) wherever they pass their self-tests against noble, chosen once, lazily
   * (at the first connection or the first `cryptoReport()` call); connections that arrive
   * before the choice is made use noble. Anything missing or failing falls back to noble per
   * piece. "noble": the pure-JS protocol core only.
   */
  crypto?: "auto" | "noble";
}

/** What `cryptoReport()` tells: backend names only, never key material. */
export type GatewayCryptoReport = CryptoBackendReport;

/** The session a transport drives: declared once, in src/tunnel/session-seam.ts. */
export type { GatewaySession };

/** `createSession` and `clock` (SessionFactory, src/tunnel/session-seam.ts), plus the request. */
export interface UpgradeArgs extends SessionFactory {
  /** The upgrade request (GET with `Upgrade: websocket`). */
  request: Request;
  /** The platform env Hono received (Deno: { remoteAddr }, Workers: bindings). */
  env: unknown;
  context: Context;
}

/** Accepts the WebSocket on this platform and returns the 101 (or an error) response. */
export type Upgrader = ((args: UpgradeArgs) => Response | Promise<Response>) & {
  /** True once the transport drains (refuses upgrades): /readyz answers 503 "draining". */
  readonly draining?: boolean;
};

/** What a transport needs to build sessions itself (e.g. inside a Durable Object). */
export interface SessionConfig {
  keys: StaticKey[];
  suites: SuiteId[];
  allowAnonymous: boolean;
  limits: SessionLimits;
  handler: RequestHandler;
  env: Env;
  log?: GatewayLog;
  /** Client authentication (SessionOptions `auth`), when enabled. */
  auth?: AuthVerifier;
  /**
   * Per-connection crypto for transports that build sessions themselves: `kem()` (a fresh
   * per-connection KEM, to pass as ServerSession `kem`) and `aead` (ServerSession `aead`).
   * Both give noble until the selection (started by `cryptoReport()` or the first
   * `createSession`) finished; with `crypto: "noble"` always noble (undefined = core default).
   */
  crypto: SessionCrypto;
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
   * `parent.get("/.well-known/pqgate", gateway.keyConfigHandler)`. Given the request (a Hono
   * context or a Request), its CORS headers follow `allowedOrigins`; without one, none.
   */
  keyConfigHandler: (from?: Context | Request) => Response;
  routes: RouteTable;
  sessionConfig: SessionConfig;
  /** Route match (403 if none, no connection) + forward with header hygiene. */
  handler: RequestHandler;
  /** The client authentication verifier every session gets, or null when none is enabled. */
  auth: AuthVerifier | null;
  createSession(socket: Socket, clientAddress: string | null): GatewaySession;
  /**
   * The crypto backends in use; starts the selection if it has not started (resolves after it,
   * at most a few hundred ms once). Never rejects: a failed selection reports noble.
   */
  cryptoReport(): Promise<GatewayCryptoReport>;
}

const defaultEnv: Env = {
  now: () => Date.now(),
  random: (n) => crypto.getRandomValues(new Uint8Array(n)),
};

export function createGateway(options: GatewayOptions): Gateway {
  if (typeof options !== "object" || options === null) configError([], "must be an object");
  const known = new Set([
    "keys",
    "routes",
    "services",
    "allowAnonymous",
    "auth",
    "suites",
    "limits",
    "websockets",
    "originTimeoutMs",
    "originBodyIdleTimeoutMs",
    "fetch",
    "channelPath",
    "allowedOrigins",
    "upgrade",
    "env",
    "log",
    "crypto",
  ]);
  for (const k of Object.keys(options)) {
    if (!known.has(k)) configError([k], "is not a known option");
  }
  const keys = validateKeys(options.keys);
  const suites = validateSuites(options.suites);
  const limits = validateLimits(options.limits);
  const channelPath = validateChannelPath(options.channelPath);
  const parsedOrigins = parseAllowedOrigins(options.allowedOrigins, "options.allowedOrigins");
  if ("error" in parsedOrigins) configErrorWith(["allowedOrigins"], parsedOrigins.error);
  const originPolicy = parsedOrigins.policy;
  const originTimeoutMs = validatePositiveMs(
    "originTimeoutMs",
    options.originTimeoutMs,
    DEFAULT_ORIGIN_TIMEOUT_MS,
  );
  const originBodyIdleTimeoutMs = validateOptionalMs(
    "originBodyIdleTimeoutMs",
    options.originBodyIdleTimeoutMs,
    DEFAULT_ORIGIN_BODY_IDLE_TIMEOUT_MS,
  );
  const fetchImpl = validateFunction<typeof fetch>("fetch", options.fetch) ??
    ((i, init) =>
      platformOriginFetch(i instanceof Request && init === undefined ? i : new Request(i, init)));
  const upgradeOpt = validateFunction<Upgrader>("upgrade", options.upgrade);
  const log = validateFunction<GatewayLog>("log", options.log);
  const env = validateEnv(options.env) ?? defaultEnv;
  const services = validateServices(options.services);
  if (options.allowAnonymous !== undefined && typeof options.allowAnonymous !== "boolean") {
    configError(["allowAnonymous"], "must be a boolean");
  }
  const allowAnonymous = options.allowAnonymous ?? false;
  if (options.crypto !== undefined && options.crypto !== "auto" && options.crypto !== "noble") {
    configError(["crypto"], 'must be "auto" or "noble"');
  }
  const cryptoMode = options.crypto ?? "auto";

  let routes: RouteTable;
  const demoRoutes = options.auth !== undefined ? DEMO_AUTH_ROUTES : DEMO_ROUTES;
  const routeConfig = options.routes ?? demoRoutes;
  try {
    routes = compileRoutes(routeConfig);
  } catch (e) {
    routeError(e);
  }
  for (const r of routes.routes) {
    if (
      r.origin.kind === "service" && !r.websocket && !(r.origin.name in services) &&
      options.routes !== undefined
    ) {
      configError(
        ["routes", r.index, "origin"],
        `names service:${r.origin.name}, which options.services does not provide`,
      );
    }
  }

  const auth = options.auth === undefined
    ? undefined
    : buildAuthVerifier(options.auth, routes, fetchImpl, env, optionAt("auth"));
  for (const u of unreachableAuthRoutes(routeConfig, auth ? [...auth.methods] : [])) {
    configError(["routes", u.index, u.field], u.detail);
  }

  const ws = resolveWebSockets(
    options.websockets,
    routes,
    options.routes === undefined,
    options.limits?.maxWsMessage,
  );
  limits.maxWsMessage = ws.maxWsMessage;

  const handler = createRequestHandler({
    routes,
    services,
    fetch: fetchImpl,
    // The default origin fetch also takes a URL and an init: no Request made only to be cloned.
    fetchUrl: options.fetch === undefined ? platformOriginFetchUrl : undefined,
    originTimeoutMs,
    originBodyIdleTimeoutMs,
    maxBodyBytes: limits.maxBodyBytes,
    authMethods: auth?.methods ?? new Set(),
    demo: options.routes === undefined,
    log,
    websockets: ws.handler,
  });

  // Crypto backends: selected once, lazily; noble (the core defaults) until then.
  let backends: Backends | null = null;
  let selection: Promise<GatewayCryptoReport> | null = null;
  let report: GatewayCryptoReport | null = null;
  const startSelection = (): Promise<GatewayCryptoReport> => {
    if (selection) return selection;
    selection = (async () => {
      if (cryptoMode === "noble") {
        // Only noble code, but the static keys expanded once (SHAKE256 + ML-KEM keygen, ~26%
        // of a noble handshake) instead of in every handshake: selectBackends' forced path is
        // the cached X-Wing on noble parts, byte-identical to the core (src/crypto/select.ts).
        try {
          const { selectBackends } = await import("../crypto/select.ts");
          backends = await selectBackends({ force: "noble", staticKeys: keys, timeAead: false });
        } catch { /* the core's own noble code, uncached */ }
        return (report = nobleReport("noble", [], 0));
      }
      const t0 = Date.now();
      try {
        const { selectBackends } = await import("../crypto/select.ts");
        const b = await selectBackends({ staticKeys: keys });
        backends = b;
        report = reportOf(b.report);
        emit(log, "crypto", { ...report });
      } catch (e) {
        // Never fatal: the gateway keeps the pure-JS core.
        const why = `selection failed: ${(e as Error)?.message ?? e}`;
        report = nobleReport("auto", [why], Date.now() - t0);
        emit(log, "crypto", { ...report });
      }
      return report;
    })();
    return selection;
  };
  const connectionCrypto = {
    kem: (): ConnectionKem | undefined => backends?.forConnection(),
    aead: () => backends?.aead,
  };

  const sessionConfig: SessionConfig = {
    keys,
    suites,
    allowAnonymous,
    limits,
    handler,
    env,
    log,
    auth,
    crypto: connectionCrypto,
  };
  const createSession = (socket: Socket, clientAddress: string | null): GatewaySession => {
    if (!selection) void startSelection();
    return new ServerSession({
      socket,
      keys,
      suites,
      allowAnonymous,
      auth,
      env,
      limits,
      handler,
      clientAddress,
      log,
      kem: connectionCrypto.kem(),
      aead: connectionCrypto.aead(),
    });
  };

  const keyConfig = keyConfiguration(keys, suites);
  const keyConfigJson = JSON.stringify(keyConfig);

  const keyConfigHandler = (from?: Context | Request) => {
    const request = from instanceof Request ? from : from?.req.raw;
    return new Response(keyConfigJson, {
      headers: {
        "content-type": "application/json",
        "x-content-type-options": "nosniff",
        // Public data, but readable cross-origin only by the pages allowed to connect.
        ...(request
          ? corsHeaders(originPolicy, request.headers.get("origin"), request.url)
          : originPolicy.kind === "any"
          ? { "access-control-allow-origin": "*" }
          : { vary: "Origin" }),
        // Short, so a rotation reaches clients quickly.
        "cache-control": "public, max-age=60",
      },
    });
  };

  const app = new Hono();
  app.get("/.well-known/pqgate", (c) => keyConfigHandler(c));
  app.get("/healthz", (c) =>
    c.json(
      // Backend names once selected (names only, no secrets); before that just the status.
      report
        ? {
          status: "ok",
          crypto: { mlkem: report.mlkem, x25519: report.x25519, aead: report.aead },
        }
        : { status: "ok" },
      200,
      { "cache-control": "no-store", ...NOSNIFF },
    ));
  // Readiness (docs/operations.md "Health"): keys loaded, the crypto selection's self-tests
  // finished (a failed selection falls back to noble, which serves: ready), the transport not
  // draining. Starts the selection when nothing has yet.
  app.get("/readyz", (c) => {
    if (!selection) void startSelection();
    const upgrade = upgradeOpt ??
      (c.env as Record<string, unknown> | undefined)?.[UPGRADE_ENV_KEY] as Upgrader | undefined;
    const reason = keys.length === 0 && !allowAnonymous
      ? "no_keys"
      : report === null
      ? "crypto_self_test_pending"
      : upgrade?.draining
      ? "draining"
      : null;
    return c.json(
      reason ? { status: "not_ready", reason } : { status: "ready", keys: keys.length },
      reason ? 503 : 200,
      { "cache-control": "no-store", ...NOSNIFF },
    );
  });
  app.all(channelPath, async (c) => {
    const upgradeHeader = c.req.header("upgrade") ?? "";
    if (c.req.method !== "GET" || upgradeHeader.toLowerCase() !== "websocket") {
      return c.json(
        {
          error: "upgrade_required",
          message: `connect a pqgate client with a WebSocket to ${channelPath}`,
        },
        426,
        { upgrade: "websocket", connection: "Upgrade", ...NOSNIFF },
      );
    }
    // Before the upgrade hook: a refused page gets no socket and no session (SECURITY.md).
    const origin = c.req.header("origin") ?? null;
    if (!originAllowed(originPolicy, origin, c.req.url)) {
      emit(log, "refused", { reason: "origin_not_allowed", status: 403 });
      return c.json(
        {
          error: "origin_not_allowed",
          message: "this gateway does not accept channels from this page's origin (allowedOrigins)",
        },
        403,
        { "cache-control": "no-store", ...NOSNIFF },
      );
    }
    const upgrade = upgradeOpt ??
      (c.env as Record<string, unknown> | undefined)?.[UPGRADE_ENV_KEY] as Upgrader | undefined;
    if (typeof upgrade !== "function") {
      emit(log, "gateway.no_transport", {});
      return c.json(
        { error: "no_transport", message: "this gateway has no WebSocket transport" },
        501,
        NOSNIFF,
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
    auth: auth ?? null,
    createSession,
    cryptoReport: startSelection,
  };
}

const SUITE_NAMES: Record<string, string> = {
  "aes-256-gcm": "AES-256-GCM",
  "chacha20-poly1305": "ChaCha20-Poly1305",
};

function nobleReport(mode: "auto" | "noble", fallbacks: string[], ms: number): GatewayCryptoReport {
  const aead = { "AES-256-GCM": "noble", "ChaCha20-Poly1305": "noble" };
  return {
    mode,
    mlkem: "noble",
    x25519: "noble",
    sha3: "noble",
    aead,
    summary: "ML-KEM: noble, X25519: noble, AEAD: noble (pure JS)",
    fallbacks,
    ms,
  };
}

function reportOf(r: BackendReport): GatewayCryptoReport {
  const mlkem = r.prepared ? "WebCrypto (native)" : "noble";
  const aead: Record<string, string> = {};
  for (const [alg, why] of Object.entries(r.aead)) {
    aead[SUITE_NAMES[alg] ?? alg] = why.startsWith("node:crypto") ? "node:crypto" : "noble";
  }
  const aeadText = Object.entries(aead).map(([s, impl]) => `${s} ${impl}`).join(", ");
  return {
    mode: "auto",
    mlkem,
    x25519: r.x25519,
    sha3: r.sha3,
    aead,
    summary: `ML-KEM: ${mlkem}, X25519: ${r.x25519}, SHA3: ${r.sha3}, AEAD: ${aeadText}`,
    fallbacks: [...r.fallbacks],
    ms: r.ms,
  };
}

export { SUITES };
