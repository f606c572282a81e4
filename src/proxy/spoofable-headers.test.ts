import assert from "node:assert/strict";
import { originRequestHeaders } from "./headers.ts";
import { isSpoofableRequestHeader } from "./spoofable-headers.ts";

/** Fields a client could use to impersonate a proxy in front of the origin (finding 7). */
const SPOOFING_HEADERS: readonly string[] = [
  "client-ip",
  "x-client-ip",
  "true-client-ip",
  "x-true-client-ip",
  "x-real-ip",
  "x-cluster-client-ip",
  "cluster-client-ip",
  "fastly-client-ip",
  "cf-connecting-ip",
  "cf-connecting-ipv6",
  "cf-ipcountry",
  "cf-access-jwt-assertion",
  "x-originating-ip",
  "x-remote-ip",
  "x-remote-addr",
  "x-proxyuser-ip",
  "proxy-client-ip",
  "wl-proxy-client-ip",
  "forwarded-for",
  "x-forwarded",
  "x-forwarded-for",
  "x-forwarded-host",
  "x-forwarded-port",
  "x-forwarded-prefix",
  "x-forwarded-proto",
  "x-forwarded-server",
  "x-forwarded-ssl",
  "x-forwarded-scheme",
  "x-forwarded-user",
  "x-forwarded-client-cert",
  "x-host",
  "x-original-url",
  "x-original-uri",
  "x-original-host",
  "x-original-method",
  "x-original-forwarded-for",
  "x-rewrite-url",
  "x-http-method",
  "x-http-method-override",
  "x-method-override",
  "x-http-destinationurl",
  "x-envoy-original-path",
  "x-envoy-internal",
  "x-amzn-oidc-identity",
  "x-amzn-trace-id",
  "x-appengine-user-email",
  "x-appengine-cron",
  "x-azure-clientip",
  "x-azure-fdid",
  "x-ms-client-principal-name",
  "x-ms-forwarded-for",
  "x-ms-original-url",
  "x-ms-token-aad-id-token",
  "akamai-origin-hop",
  "x-akamai-edgescape",
  "front-end-https",
  "x-url-scheme",
  "x-scheme",
  "x-real-port",
  "x-client-port",
  "x-goog-iap-jwt-assertion",
  "x-goog-authenticated-user-email",
  "x-endpoint-api-userinfo",
  "x-middleware-subrequest",
  "x-vercel-forwarded-for",
  "fly-client-ip",
  "x-auth-request-email",
  "remote-user",
  "x-remote-user",
  "x-webauth-user",
  "x-ssl-client-cert",
  "ssl-client-cert",
  "x-arr-clientcert",
  "incap-client-ip",
  "do-connecting-ip",
  "x-nf-client-connection-ip",
  "surrogate-capability",
  "via",
  "cdn-loop",
  "forwarded",
  "pqgate-suite",
];

/** Ordinary end-to-end fields that must reach the origin unchanged. */
const ORDINARY_HEADERS: readonly [string, string][] = [
  ["accept", "application/json"],
  ["content-type", "application/json"],
  ["authorization", "Bearer keep-me"],
  ["cookie", "a=1; b=2"],
  ["user-agent", "pqgate-test/1"],
  ["x-app-tenant", "t1"],
  ["x-app-trace", "abc"],
  ["x-api-key", "k"],
  ["x-request-id", "r-1"],
  ["x-amz-date", "20250101T000000Z"], // AWS request signing (x-amz-, not x-amzn-)
  ["x-ms-version", "2021-08-06"], // Azure Storage REST
  ["x-goog-api-key", "g"],
  ["cf-access-client-id", "id.access"], // Cloudflare Access service token (a credential)
  ["cf-access-client-secret", "s"],
  ["origin", "https://app.example"],
  ["referer", "https://app.example/page"],
];

Deno.test("spoofable headers: every proxy-assertion field is dropped, ordinary fields are not", () => {
  assert.ok(SPOOFING_HEADERS.length >= 30);
  for (const n of SPOOFING_HEADERS) assert.ok(isSpoofableRequestHeader(n), n);
  for (const [n] of ORDINARY_HEADERS) assert.ok(!isSpoofableRequestHeader(n), n);

  const h = originRequestHeaders(
    [...SPOOFING_HEADERS.map((n) => [n, "6.6.6.6"] as [string, string]), ...ORDINARY_HEADERS],
    { host: "backend.internal", clientAddress: "203.0.113.7", suite: 1, sessionId: "s" },
  );
  const gatewaySet = new Set(["forwarded", "x-forwarded-for", "x-forwarded-proto", "pqgate-suite"]);
  for (const n of SPOOFING_HEADERS) {
    if (gatewaySet.has(n)) assert.notEqual(h.get(n), "6.6.6.6", n); // replaced by the gateway's own
    else assert.equal(h.get(n), null, n);
  }
  for (const [n, v] of ORDINARY_HEADERS) assert.equal(h.get(n), v, n);
});
