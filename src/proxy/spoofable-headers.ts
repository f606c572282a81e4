/**
 * The request-header drop policy (SECURITY.md, "Header hygiene"): request fields an origin, a
 * framework or a platform may read as an ASSERTION made by a trusted proxy in front of it, and
 * which a client could therefore forge through the channel. None of them reaches an origin.
 *
 * Why a drop list and not an allowlist: the origins behind a gateway are arbitrary APIs whose
 * own headers (API keys, `x-app-*`, signing headers such as `x-amz-*` or `x-ms-version`, trace
 * ids) cannot be enumerated in advance, so an allowlist would either break them or need
 * per-route configuration. What CAN be enumerated is the class of fields that proxies, CDNs,
 * load balancers and authentication proxies set for their origins: client identity and
 * address, the original URL, host, scheme, port, method, and platform trust assertions. That
 * class is dropped by exact name and by the prefixes of the families below. A field an origin
 * trusts that is not in this list (an operator's own "x-internal-user", say) is NOT removed:
 * origins must trust gateway assertions only through `pqgate-gateway-auth` (headers.ts).
 *
 * The gateway then sets the fields it asserts itself (headers.ts): Host, Forwarded,
 * X-Forwarded-For, X-Forwarded-Proto and `pqgate-*`.
 */

/** Client address / identity as a proxy or CDN reports it. */
const CLIENT_ADDRESS = [
  "forwarded",
  "forwarded-for",
  "forwarded-for-ip",
  "x-forwarded", // legacy bare form; x-forwarded-* is a prefix below
  "x-real-ip",
  "client-ip",
  "x-client-ip",
  "true-client-ip",
  "x-true-client-ip",
  "cluster-client-ip",
  "x-cluster-client-ip",
  "x-originating-ip",
  "x-remote-ip",
  "x-remote-addr",
  "x-proxyuser-ip",
  "proxy-client-ip",
  "wl-proxy-client-ip",
  "x-client-port",
  "x-real-port",
  "x-device-ip",
  "incap-client-ip",
  "ali-cdn-real-ip",
  "cdn-src-ip",
  "cdn-real-ip",
  "do-connecting-ip",
  "x-nf-client-connection-ip",
  "x-azure-clientip",
  "x-azure-socketip",
  "via",
  "cdn-loop",
] as const;

/** The original request target, host, scheme or method, as a rewriting proxy reports it. */
const ORIGINAL_TARGET = [
  "x-rewrite-url",
  "x-http-destinationurl",
  "x-host",
  "x-http-host",
  "x-url-scheme",
  "x-scheme",
  "front-end-https",
  "x-arr-ssl",
  "x-http-method",
  "x-http-method-override",
  "x-method-override",
  "surrogate-capability", // asks the origin for ESI processing meant for a trusted cache
] as const;

/** Identity asserted by an authentication proxy or a platform in front of the origin. */
const ASSERTED_IDENTITY = [
  "remote-user",
  "x-remote-user",
  "x-webauth-user",
  "x-client-cert",
  "x-client-verify",
  "x-arr-clientcert",
  "ssl-client-cert",
  "ssl-client-verify",
  "x-goog-iap-jwt-assertion",
  "x-goog-authenticated-user-email",
  "x-goog-authenticated-user-id",
  "x-endpoint-api-userinfo",
  "x-apigateway-api-userinfo",
  "x-serverless-authorization",
  "x-middleware-subrequest", // a framework's internal marker that skips its middleware
  "x-now-route-matches",
] as const;

/** Every field that starts with one of these is dropped (platform and proxy families). */
export const DROPPED_REQUEST_PREFIXES = [
  "pqgate-", // the gateway's own assertions (headers.ts)
  "x-forwarded-", // -for, -host, -port, -proto, -prefix, -server, -ssl, -scheme, -user, -client-cert ...
  "x-original-", // -url, -uri, -host, -method, -forwarded-for, -remote-addr ...
  "cf-", // Cloudflare: -connecting-ip(v6), -ipcountry, -ray, -visitor, -worker, -access-jwt-assertion ...
  "fastly-",
  "akamai-",
  "x-akamai-",
  "x-envoy-",
  "x-amzn-", // AWS load balancers / API Gateway: -trace-id, -oidc-identity, -oidc-data ...
  "x-appengine-",
  "x-azure-",
  "x-ms-client-principal", // Azure App Service authentication (-id, -name, -idp)
  "x-ms-token-",
  "x-ms-forwarded-",
  "x-ms-original-",
  "x-vercel-",
  "fly-",
  "x-auth-request-", // oauth2-proxy style identity headers
  "x-ssl-", // TLS client-certificate details set by a terminating proxy
] as const;

/**
 * Client credentials inside a dropped family that are addressed to a service in front of the
 * origin and assert nothing about the client (Cloudflare Access service tokens).
 */
const KEPT_IN_DROPPED_FAMILY = new Set<string>([
  "cf-access-client-id",
  "cf-access-client-secret",
]);

/** Dropped by exact (lowercase) name. */
export const DROPPED_REQUEST_NAMES: ReadonlySet<string> = new Set<string>([
  ...CLIENT_ADDRESS,
  ...ORIGINAL_TARGET,
  ...ASSERTED_IDENTITY,
]);

/** True when a (lowercase) request field name must not reach an origin. */
export function isSpoofableRequestHeader(name: string): boolean {
  if (DROPPED_REQUEST_NAMES.has(name)) return true;
  if (KEPT_IN_DROPPED_FAMILY.has(name)) return false;
  for (const p of DROPPED_REQUEST_PREFIXES) if (name.startsWith(p)) return true;
  return false;
}
