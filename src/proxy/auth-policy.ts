/**
 * Route authentication policy and the identity headers an origin sees (docs/client-auth.md
 * "Policy", docs/configuration.md "Client authentication"). Knows no crypto: the session has
 * already settled who the client is (ChannelInfo.identity, src/tunnel/types.ts); this decides
 * what a route makes of it.
 *
 * Per route `auth`:
 * - "none" (default): the identity is ignored and NO identity header is sent, so an origin
 *   that did not opt in never learns who the user is;
 * - "optional": forwarded either way; an authenticated request carries the identity headers;
 * - "required": a request without a usable identity (none, or a token identity past its
 *   `expiresAt`) gets 401 `auth_required` on its stream (the channel stays usable).
 * On "optional" and "required" routes an identity whose method is not in `authMethods` gets
 * 403 `auth_method_not_allowed` (the client proved something this route does not accept).
 *
 * Identity headers (set by the gateway only; every client-sent `pqgate-*` field is dropped on
 * every route, spoofable-headers.ts): `pqgate-auth-method` (password, token, psk),
 * `pqgate-auth-subject` (user name, token `sub`, PSK identity) and, for tokens,
 * `pqgate-auth-issuer`. Subject and issuer are percent-encoded UTF-8 (`encodeHeaderValue`):
 * whatever a token's `sub` holds, no CR, LF, control or non-ASCII character reaches a field
 * value, and the origin gets the exact string back with `decodeURIComponent`.
 */
import type { AuthMethod, ClientIdentity } from "../tunnel/types.ts";

/** What a route asks of the client (RouteConfig `auth`). */
export type RouteAuth = "none" | "optional" | "required";

export const ROUTE_AUTH_POLICIES: readonly RouteAuth[] = ["none", "optional", "required"];
/** Every client authentication method, in the order docs list them. */
export const AUTH_METHODS: readonly AuthMethod[] = ["password", "token", "psk"];

export const HEADER_AUTH_METHOD = "pqgate-auth-method";
export const HEADER_AUTH_SUBJECT = "pqgate-auth-subject";
export const HEADER_AUTH_ISSUER = "pqgate-auth-issuer";

/** The identity header names (all under `pqgate-`, so a client's copies never pass). */
export const IDENTITY_HEADERS: readonly string[] = [
  HEADER_AUTH_METHOD,
  HEADER_AUTH_SUBJECT,
  HEADER_AUTH_ISSUER,
];

/**
 * Longest encoded subject or issuer sent to an origin. An identity whose subject or issuer
 * encodes longer counts as no identity (a 401 on a required route): a field value that size
 * is no user name, and origins' header limits (8-16 KiB in total) must not be spent on it.
 */
export const MAX_IDENTITY_VALUE = 1024;

/** Characters kept as is: RFC 3986 unreserved, sub-delims, ":" and "@" and "/" (never "%"). */
const KEPT = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/]$/;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const UTF8 = new TextEncoder();

/**
 * `value` as a field value that cannot break a header: every character outside RFC 3986's
 * unreserved, sub-delims and ":@/" is percent-encoded as UTF-8 (`%` itself as %25), so the
 * result is visible ASCII only and `decodeURIComponent` gives `value` back. Lone surrogates
 * (not UTF-8 encodable) become U+FFFD first. Null when the result exceeds `max`.
 */
export function encodeHeaderValue(value: string, max = MAX_IDENTITY_VALUE): string | null {
  if (value.length > max) return null; // every character encodes to at least one
  let out = "";
  for (const ch of value.replace(LONE_SURROGATE, "\uFFFD")) {
    if (KEPT.test(ch)) out += ch;
    else {
      for (const b of UTF8.encode(ch)) {
        out += "%" + b.toString(16).toUpperCase().padStart(2, "0");
      }
    }
    if (out.length > max) return null;
  }
  return out;
}

/** What a route's policy decided for one request. */
export type AuthDecision =
  | { ok: true; headers: [string, string][] }
  | {
    ok: false;
    code: "auth_required" | "auth_method_not_allowed";
    /** Extra fields of the 401 (its `www-authenticate` hint). */
    extra?: Record<string, string>;
  };

/** A route's policy in the compiled table (Route `auth`, `authMethods`). */
export interface RoutePolicy {
  readonly auth: RouteAuth;
  /** The methods it accepts; null = every method. */
  readonly authMethods: ReadonlySet<AuthMethod> | null;
}

/**
 * `www-authenticate` of a 401: the scheme `PQGate` with the methods the route accepts, and
 * `error="token_expired"` when the channel's token identity expired (a client refreshes it
 * with a new AUTH, docs/client-auth.md).
 */
function challenge(
  route: RoutePolicy,
  expired: boolean,
  enabled: ReadonlySet<AuthMethod> | undefined,
): string {
  const methods = AUTH_METHODS.filter((m) =>
    (route.authMethods?.has(m) ?? true) && (enabled?.has(m) ?? true)
  ).join(" ");
  return `PQGate methods="${methods}"${expired ? ', error="token_expired"' : ""}`;
}

/**
 * Applies a route's policy to the channel's identity at `now` (ms since the epoch): the
 * identity headers to add, or the error to answer. `enabled`: the gateway's methods, so a 401's
 * hint names only methods a client can actually use (default: all).
 */
export function decideAuth(
  route: RoutePolicy,
  identity: ClientIdentity | null | undefined,
  now: number,
  enabled?: ReadonlySet<AuthMethod>,
): AuthDecision {
  if (route.auth === "none") return { ok: true, headers: [] };
  const expired = identity != null && identity.expiresAt !== undefined &&
    !(identity.expiresAt > now);
  const headers = identity != null && !expired ? identityHeaders(identity) : null;
  if (headers === null) {
    if (route.auth === "optional") return { ok: true, headers: [] };
    return {
      ok: false,
      code: "auth_required",
      extra: { "www-authenticate": challenge(route, expired, enabled) },
    };
  }
  if (route.authMethods !== null && !route.authMethods.has(identity!.method)) {
    return { ok: false, code: "auth_method_not_allowed" };
  }
  return { ok: true, headers };
}

/** The identity headers of `identity`, or null when it cannot be sent (unknown method, too long). */
export function identityHeaders(identity: ClientIdentity): [string, string][] | null {
  if (!AUTH_METHODS.includes(identity.method)) return null;
  if (typeof identity.subject !== "string" || identity.subject === "") return null;
  const subject = encodeHeaderValue(identity.subject);
  if (subject === null) return null;
  const out: [string, string][] = [
    [HEADER_AUTH_METHOD, identity.method],
    [HEADER_AUTH_SUBJECT, subject],
  ];
  if (identity.issuer !== undefined) {
    const issuer = typeof identity.issuer === "string" ? encodeHeaderValue(identity.issuer) : null;
    if (issuer === null) return null;
    out.push([HEADER_AUTH_ISSUER, issuer]);
  }
  return out;
}

/**
 * Checks a route entry's `auth` and `authMethods` (compileRoutes): the policy, or a string
 * naming what is wrong (`[field, detail]`).
 */
export function compileRoutePolicy(
  auth: unknown,
  methods: unknown,
): RoutePolicy | [string, string] {
  if (auth !== undefined && !(ROUTE_AUTH_POLICIES as readonly unknown[]).includes(auth)) {
    return ["auth", `must be "none", "optional" or "required", got ${JSON.stringify(auth)}`];
  }
  let set: Set<AuthMethod> | null = null;
  if (methods !== undefined) {
    if (!Array.isArray(methods) || methods.length === 0) {
      return ["authMethods", `must be a non-empty array of ${AUTH_METHODS.join(", ")}`];
    }
    set = new Set();
    for (const m of methods) {
      if (!(AUTH_METHODS as readonly unknown[]).includes(m)) {
        return ["authMethods", `unknown method ${JSON.stringify(m)} (${AUTH_METHODS.join(", ")})`];
      }
      if (set.has(m)) return ["authMethods", `lists ${m} twice`];
      set.add(m);
    }
    if ((auth ?? "none") === "none") {
      return ["authMethods", 'needs auth "optional" or "required" (auth "none" accepts no method)'];
    }
  }
  return { auth: (auth ?? "none") as RouteAuth, authMethods: set };
}
