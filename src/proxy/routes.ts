/**
 * Route table: which request targets the gateway forwards, and to which origin (docs/forwarding.md §1).
 *
 * pqgate is not an open relay. The origin URL is ALWAYS the route's configured origin base plus
 * the request's (checked) path; the client's authority only selects a route, it never becomes
 * a connection target, and absolute-form targets are refused. Anything unmatched → no route
 * (the caller answers 403 and opens no connection).
 *
 * `service:NAME` origins name an in-process handler or a Workers service binding. They compile
 * to a URL on the reserved `.invalid` TLD (RFC 6761: never resolves), `http://NAME.svc.pqgate.invalid`,
 * so the one `fetch` the gateway passes in can dispatch them (see `service-fetch.ts`), and a
 * plain network fetch that receives one by mistake fails instead of reaching anything.
 */
import type { AuthMethod } from "../tunnel/types.ts";
import { compileRoutePolicy, type RouteAuth } from "./auth-policy.ts";

/** One route as written in the configuration. */
export interface RouteConfig {
  match: { authority?: string; pathPrefix?: string };
  /**
   * Absolute http(s) URL base (no userinfo, query or fragment), or `service:NAME`; for a
   * WebSocket route (PROTOCOL.md §6.9, docs/websockets.md) a ws(s) URL base, or `service:NAME`
   * with `websocket: true`.
   */
  origin: string;
  /**
   * A route for tunneled WebSockets: implied by a `ws:` / `wss:` origin, needed for a
   * `service:` one. WebSocket routes match only WebSocket streams and HTTP routes only
   * requests (§6.9).
   */
  websocket?: boolean;
  /** Remove `match.pathPrefix` from the path before appending it to the origin base. */
  stripPrefix?: boolean;
  /** Time to origin response headers, ms; overrides the gateway default. */
  timeoutMs?: number;
  /**
   * Response-body idle timeout, ms (0 = none): no byte from the origin for this long while the
   * client waits → the stream is reset and the origin request aborted. Overrides the gateway's
   * `originBodyIdleTimeoutMs`.
   */
  bodyIdleTimeoutMs?: number;
  /** Request body cap in bytes (0 = no limit); overrides the gateway default. */
  maxBodyBytes?: number;
  /**
   * Shared secret sent to THIS route's origin only, as `pqgate-gateway-auth`, so the origin can
   * tell requests from the gateway (and so trust `pqgate-*` / forwarding headers) from others.
   */
  gatewayAuth?: string;
  /**
   * Tell this route's origin which host the client asked for: `X-Forwarded-Host` and a
   * `host=` parameter in `Forwarded` (RFC 7239). Off by default: the origin sees only its own
   * host in `Host`. In-process (`service:`) origins always see the client's host and scheme
   * in the request URL.
   */
  forwardedHost?: boolean;
  /**
   * Client authentication this route asks for (auth-policy.ts): "none" (default: the identity
   * is ignored, no identity header sent), "optional" (identity headers when authenticated) or
   * "required" (401 `auth_required` without an identity).
   */
  auth?: RouteAuth;
  /** Methods accepted on an "optional" / "required" route (default: all); others → 403. */
  authMethods?: AuthMethod[];
}

export type OriginTarget =
  | {
    kind: "url";
    /** normalized base, no trailing slash */ base: string;
    /** the base's host[:port] as `new URL` gives it: the origin request's Host */ host: string;
  }
  | { kind: "service"; name: string; base: string };

/** A validated route. */
export interface Route {
  readonly index: number;
  readonly authority: string | null; // normalized, lowercase, default port removed
  readonly pathPrefix: string; // "/" or "/a/b" (no trailing slash)
  readonly origin: OriginTarget;
  readonly stripPrefix: boolean;
  readonly timeoutMs: number | undefined;
  readonly bodyIdleTimeoutMs: number | undefined;
  readonly maxBodyBytes: number | undefined;
  readonly gatewayAuth: string | undefined;
  readonly forwardedHost: boolean;
  /** "none", "optional" or "required" (auth-policy.ts). */
  readonly auth: RouteAuth;
  /** Methods the route accepts; null = every method. */
  readonly authMethods: ReadonlySet<AuthMethod> | null;
  /** Matches WebSocket streams only (a ws(s) origin, or `websocket: true`), else requests only. */
  readonly websocket: boolean;
}

export interface RouteTable {
  /** Most specific first: authority-bound before wildcard, then longest prefix. */
  readonly routes: readonly Route[];
}

export interface RouteMatch {
  route: Route;
  /** The exact URL to call: origin base + (optionally stripped) path, query kept. */
  url: string;
  /** Service name for `service:` origins, else null. */
  service: string | null;
  /** The normalized authority that selected the route (host[:port], default port removed). */
  authority: string;
  /** What follows the origin base in `url`: the (optionally stripped) path and the query. */
  rest: string;
}

export interface MatchInput {
  authority: string;
  path: string;
  /** Request scheme from the control data; only used for the default port. Default "https". */
  scheme?: string;
  /**
   * The request's Host header value(s), if any. With a non-empty authority they must agree
   * with it; with an empty authority exactly one Host names the target (RFC 9292 §3.4).
   */
  host?: string | readonly string[] | null;
  /** A WebSocket stream (PROTOCOL.md §6.9): only WebSocket routes match it. Default false. */
  websocket?: boolean;
}

/**
 * Thrown by `compileRoutes`; says which entry and field is wrong. The gateway reports it as its
 * ConfigError (src/gateway/config-error.ts) under the table's own name (`PQGATE_ROUTES[2].origin`)
 * from `segments` and `detail`; this layer knows no gateway.
 */
export class RouteConfigError extends Error {
  readonly field: string;
  /** The field's path inside the table: `[2, "match", "authority"]`; `[]` for the table. */
  readonly segments: readonly (string | number)[];
  constructor(
    readonly index: number,
    field: string | readonly string[],
    readonly detail: string,
  ) {
    const name = typeof field === "string" ? field : field.join(".");
    super(index < 0 ? `${name}: ${detail}` : `routes[${index}].${name}: ${detail}`);
    this.name = "RouteConfigError";
    this.field = name;
    const inEntry = typeof field !== "string" ? field : name === "(entry)" ? [] : name.split(".");
    this.segments = index < 0 ? [] : [index, ...inEntry];
  }
}

export const SERVICE_HOST_SUFFIX = ".svc.pqgate.invalid";
const SERVICE_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,62}$/;
const MAX_TIMEOUT_MS = 10 * 60 * 1000;
/** Largest delay a timer can take (2^31 - 1 ms, about 24.8 days). */
export const MAX_TIMER_MS = 2 ** 31 - 1;
const ENTRY_KEYS = new Set([
  "match",
  "origin",
  "stripPrefix",
  "timeoutMs",
  "bodyIdleTimeoutMs",
  "maxBodyBytes",
  "gatewayAuth",
  "forwardedHost",
  "auth",
  "authMethods",
  "websocket",
]);
const MATCH_KEYS = new Set(["authority", "pathPrefix"]);

// ---------------------------------------------------------------------------------------------
// Authority

const REG_NAME =
  /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
const IPV6_LITERAL = /^\[[0-9a-f:.]+\]$/;

/**
 * Normalizes `host[:port]`: lowercase, default port (443 for https, 80 for http) removed.
 * Returns null for anything that is not a plain reg-name / IPv4 / bracketed IPv6 with an
 * optional port: userinfo, empty port, whitespace, percent-encoding, trailing dots all fail.
 */
export function normalizeAuthority(raw: string, scheme = "https"): string | null {
  if (typeof raw !== "string" || raw.length === 0 || raw.length > 261) return null;
  const a = raw.toLowerCase();
  let host = a;
  let port: string | null = null;
  if (a.startsWith("[")) {
    const close = a.indexOf("]");
    if (close < 0) return null;
    host = a.slice(0, close + 1);
    const rest = a.slice(close + 1);
    if (rest !== "") {
      if (!rest.startsWith(":")) return null;
      port = rest.slice(1);
    }
    if (!IPV6_LITERAL.test(host)) return null;
  } else {
    const colon = a.indexOf(":");
    if (colon >= 0) {
      host = a.slice(0, colon);
      port = a.slice(colon + 1);
    }
    if (!REG_NAME.test(host)) return null;
  }
  if (port !== null) {
    if (!/^[0-9]{1,5}$/.test(port)) return null;
    const p = Number(port);
    if (p < 1 || p > 65535) return null;
    const def = scheme.toLowerCase() === "http" ? 80 : 443;
    port = p === def ? null : String(p);
  }
  return port === null ? host : `${host}:${port}`;
}

// ---------------------------------------------------------------------------------------------
// Path

/**
 * Why a request path is refused, or null if it is an acceptable origin-form target.
 * Refused: not starting with "/", "//" at the start (network-path reference), backslashes,
 * any byte outside visible ASCII (CR, LF, NUL, SP, DEL, non-ASCII), "#", "..", "." segments,
 * percent-encoded ".", "/", "\" or NUL, and malformed percent-escapes.
 */
export function pathProblem(path: string): string | null {
  if (typeof path !== "string" || path.length === 0) return "empty path";
  if (path.length > 8192) return "path too long";
  if (path[0] !== "/") return "not origin-form (must start with /)";
  if (path.startsWith("//")) return "starts with //";
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return "forbidden character";
  }
  if (path.includes("\\")) return "backslash";
  if (path.includes("#")) return "fragment";
  if (path.includes("..")) return "dot-dot";
  const q = path.indexOf("?");
  const pathname = q < 0 ? path : path.slice(0, q);
  if (pathname.split("/").some((seg) => seg === ".")) return "dot segment";
  if (/%(?![0-9a-fA-F]{2})/.test(path)) return "malformed percent-escape";
  if (/%2e|%2f|%5c|%00/i.test(pathname)) return "percent-encoded dot, slash, backslash or NUL";
  if (/%00/.test(path)) return "percent-encoded NUL";
  return null;
}

function underPrefix(pathname: string, prefix: string): boolean {
  if (prefix === "/") return true;
  return pathname === prefix || pathname.startsWith(prefix + "/");
}

// ---------------------------------------------------------------------------------------------
// Compile

function compileOrigin(i: number, origin: unknown): OriginTarget {
  if (typeof origin !== "string" || origin.length === 0) {
    throw new RouteConfigError(i, "origin", "must be a non-empty string");
  }
  if (origin.startsWith("service:")) {
    const name = origin.slice("service:".length);
    if (!SERVICE_NAME.test(name)) {
      throw new RouteConfigError(i, "origin", `service name must match ${SERVICE_NAME.source}`);
    }
    return { kind: "service", name, base: `http://${name.toLowerCase()}${SERVICE_HOST_SUFFIX}` };
  }
  for (let k = 0; k < origin.length; k++) {
    const c = origin.charCodeAt(k);
    if (c < 0x21 || c > 0x7e || c === 0x5c) {
      throw new RouteConfigError(
        i,
        "origin",
        "contains whitespace, a control character, a backslash or non-ASCII",
      );
    }
  }
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    throw new RouteConfigError(i, "origin", `not an absolute URL: ${JSON.stringify(origin)}`);
  }
  if (!["http:", "https:", "ws:", "wss:"].includes(url.protocol)) {
    throw new RouteConfigError(
      i,
      "origin",
      `scheme must be http or https (ws or wss for a WebSocket route; got ${url.protocol})`,
    );
  }
  if (url.username !== "" || url.password !== "" || /^[a-z]+:\/\/[^/]*@/i.test(origin)) {
    throw new RouteConfigError(i, "origin", "must not contain userinfo (credentials in URLs leak)");
  }
  if (url.search !== "" || origin.includes("?")) {
    throw new RouteConfigError(i, "origin", "must not have a query");
  }
  if (url.hash !== "" || origin.includes("#")) {
    throw new RouteConfigError(i, "origin", "must not have a fragment");
  }
  if (url.hostname === "" || url.hostname.endsWith(SERVICE_HOST_SUFFIX)) {
    throw new RouteConfigError(i, "origin", "host is empty or reserved");
  }
  const basePath = url.pathname.replace(/\/+$/, "");
  if (basePath !== "" && pathProblem(basePath) !== null) {
    throw new RouteConfigError(i, "origin", `path is not acceptable: ${pathProblem(basePath)}`);
  }
  return { kind: "url", base: url.origin + basePath, host: url.host };
}

function optionalInt(
  i: number,
  field: string,
  v: unknown,
  min: number,
  max: number,
): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min || v > max) {
    throw new RouteConfigError(i, field, `must be an integer from ${min} to ${max}`);
  }
  return v;
}

/**
 * Validates a route configuration (an array, or `{ routes: [...] }`) and returns the table.
 * Throws `RouteConfigError` naming the entry and field. An empty table is valid (every
 * request gets 403).
 */
export function compileRoutes(
  config: readonly RouteConfig[] | { routes: readonly RouteConfig[] },
): RouteTable {
  const list: unknown = Array.isArray(config) ? config : (config as { routes?: unknown })?.routes;
  if (!Array.isArray(list)) throw new RouteConfigError(-1, "routes", "must be an array");
  const routes: Route[] = [];
  const seen = new Map<string, number>();
  list.forEach((entry: unknown, i: number) => {
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
      throw new RouteConfigError(i, "(entry)", "must be an object");
    }
    const e = entry as Record<string, unknown>;
    for (const k of Object.keys(e)) {
      if (!ENTRY_KEYS.has(k)) throw new RouteConfigError(i, [k], "unknown field");
    }
    const m = e.match;
    if (typeof m !== "object" || m === null || Array.isArray(m)) {
      throw new RouteConfigError(i, "match", "must be an object with authority and/or pathPrefix");
    }
    const match = m as Record<string, unknown>;
    for (const k of Object.keys(match)) {
      if (!MATCH_KEYS.has(k)) throw new RouteConfigError(i, ["match", k], "unknown field");
    }
    if (match.authority === undefined && match.pathPrefix === undefined) {
      throw new RouteConfigError(i, "match", "needs authority and/or pathPrefix");
    }
    let authority: string | null = null;
    if (match.authority !== undefined) {
      if (typeof match.authority !== "string") {
        throw new RouteConfigError(i, "match.authority", "must be a string");
      }
      authority = normalizeAuthority(match.authority);
      if (authority === null) {
        throw new RouteConfigError(
          i,
          "match.authority",
          `not a host[:port] (no scheme, userinfo or path): ${JSON.stringify(match.authority)}`,
        );
      }
    }
    let pathPrefix = "/";
    if (match.pathPrefix !== undefined) {
      const p = match.pathPrefix;
      if (typeof p !== "string" || !p.startsWith("/")) {
        throw new RouteConfigError(i, "match.pathPrefix", "must be a string starting with /");
      }
      const problem = pathProblem(p);
      if (problem !== null || p.includes("?") || p.includes("%")) {
        throw new RouteConfigError(
          i,
          "match.pathPrefix",
          `not a plain path: ${problem ?? "query or percent-escape"}`,
        );
      }
      pathPrefix = p === "/" ? "/" : p.replace(/\/+$/, "");
    }
    const origin = compileOrigin(i, e.origin);
    if (e.stripPrefix !== undefined && typeof e.stripPrefix !== "boolean") {
      throw new RouteConfigError(i, "stripPrefix", "must be a boolean");
    }
    const timeoutMs = optionalInt(i, "timeoutMs", e.timeoutMs, 1, MAX_TIMEOUT_MS);
    const bodyIdleTimeoutMs = optionalInt(
      i,
      "bodyIdleTimeoutMs",
      e.bodyIdleTimeoutMs,
      0,
      MAX_TIMER_MS,
    );
    const maxBodyBytes = optionalInt(i, "maxBodyBytes", e.maxBodyBytes, 0, Number.MAX_SAFE_INTEGER);
    let gatewayAuth: string | undefined;
    if (e.gatewayAuth !== undefined) {
      const g = e.gatewayAuth;
      if (typeof g !== "string" || !/^[\x21-\x7e]{16,512}$/.test(g)) {
        throw new RouteConfigError(
          i,
          "gatewayAuth",
          "must be 16-512 visible ASCII characters (value not shown)",
        );
      }
      gatewayAuth = g;
    }
    if (e.forwardedHost !== undefined && typeof e.forwardedHost !== "boolean") {
      throw new RouteConfigError(i, "forwardedHost", "must be a boolean");
    }
    if (e.websocket !== undefined && typeof e.websocket !== "boolean") {
      throw new RouteConfigError(i, "websocket", "must be a boolean");
    }
    const wsOrigin = origin.kind === "url" && /^wss?:/.test(origin.base);
    if (origin.kind === "url" && e.websocket !== undefined && e.websocket !== wsOrigin) {
      throw new RouteConfigError(
        i,
        "websocket",
        wsOrigin
          ? "a ws: or wss: origin is always a WebSocket route"
          : "a WebSocket route needs a ws: or wss: origin (or service:NAME)",
      );
    }
    const websocket = wsOrigin || e.websocket === true;
    if (websocket && (e.maxBodyBytes !== undefined || e.bodyIdleTimeoutMs !== undefined)) {
      throw new RouteConfigError(
        i,
        e.maxBodyBytes !== undefined ? "maxBodyBytes" : "bodyIdleTimeoutMs",
        "does not apply to a WebSocket route (its messages are bounded by max_ws_message)",
      );
    }
    const policy = compileRoutePolicy(e.auth, e.authMethods);
    if (Array.isArray(policy)) throw new RouteConfigError(i, policy[0], policy[1]);
    const key = `${websocket ? "ws" : "http"} ${authority ?? "*"} ${pathPrefix}`;
    const dup = seen.get(key);
    if (dup !== undefined) {
      throw new RouteConfigError(
        i,
        "match",
        `duplicates routes[${dup}].match (authority ${
          authority ?? "any"
        }, pathPrefix ${pathPrefix})`,
      );
    }
    seen.set(key, i);
    routes.push({
      index: i,
      authority,
      pathPrefix,
      origin,
      stripPrefix: e.stripPrefix === true,
      timeoutMs,
      bodyIdleTimeoutMs,
      maxBodyBytes,
      gatewayAuth,
      forwardedHost: e.forwardedHost === true,
      auth: policy.auth,
      authMethods: policy.authMethods,
      websocket,
    });
  });
  routes.sort((a, b) =>
    (a.authority === null ? 1 : 0) - (b.authority === null ? 1 : 0) ||
    b.pathPrefix.length - a.pathPrefix.length ||
    a.index - b.index
  );
  return { routes };
}

// ---------------------------------------------------------------------------------------------
// Match

/** The authority that selects the route, or null when it is missing, malformed or ambiguous. */
function effectiveAuthority(input: MatchInput): string | null {
  const scheme = input.scheme ?? "https";
  const hosts = input.host == null
    ? []
    : typeof input.host === "string"
    ? [input.host]
    : [...input.host];
  if (hosts.length > 1) return null;
  const host = hosts.length === 1 ? normalizeAuthority(hosts[0], scheme) : null;
  if (hosts.length === 1 && host === null) return null;
  if (input.authority === "") return host;
  const authority = normalizeAuthority(input.authority, scheme);
  if (authority === null) return null;
  if (host !== null && host !== authority) return null;
  return authority;
}

/** Each compiled origin's base, parsed once (one entry per configured route, weakly held). */
const parsedBases = new WeakMap<OriginTarget, { origin: string; path: string }>();
function baseOf(o: OriginTarget): { origin: string; path: string } {
  let b = parsedBases.get(o);
  if (b === undefined) {
    const u = new URL(o.base);
    b = { origin: u.origin, path: u.pathname.replace(/\/$/, "") };
    parsedBases.set(o, b);
  }
  return b;
}

/**
 * Finds the route for a request target and builds the exact origin URL, or returns null
 * (→ 403, no connection). Never derives the connection target from client input.
 */
export function matchRoute(table: RouteTable, input: MatchInput): RouteMatch | null {
  if (pathProblem(input.path) !== null) return null;
  const authority = effectiveAuthority(input);
  if (authority === null) return null;
  const q = input.path.indexOf("?");
  const pathname = q < 0 ? input.path : input.path.slice(0, q);
  const query = q < 0 ? "" : input.path.slice(q);
  const websocket = input.websocket === true;
  for (const route of table.routes) {
    if (route.websocket !== websocket) continue;
    if (route.authority !== null && route.authority !== authority) continue;
    if (!underPrefix(pathname, route.pathPrefix)) continue;
    let rest = pathname;
    if (route.stripPrefix && route.pathPrefix !== "/") {
      rest = pathname.slice(route.pathPrefix.length);
      if (rest === "") rest = "/";
    }
    const url = route.origin.base + rest + query;
    // Defense in depth: the built URL must still point at the configured origin and base path.
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return null;
    }
    const base = baseOf(route.origin);
    if (parsed.origin !== base.origin || parsed.username !== "" || parsed.password !== "") {
      return null;
    }
    if (!parsed.pathname.startsWith(base.path)) return null;
    return {
      route,
      url,
      service: route.origin.kind === "service" ? route.origin.name : null,
      authority,
      rest: rest + query,
    };
  }
  return null;
}
