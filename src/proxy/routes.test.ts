import assert from "node:assert/strict";
import {
  compileRoutes,
  matchRoute,
  normalizeAuthority,
  type RouteConfig,
  RouteConfigError,
} from "./routes.ts";

function configError(routes: unknown, index: number, field: string): void {
  assert.throws(() => compileRoutes(routes as RouteConfig[]), (e: unknown) => {
    assert.ok(e instanceof RouteConfigError, String(e));
    assert.equal(e.index, index, e.message);
    assert.equal(e.field, field, e.message);
    assert.ok(e.message.startsWith(index < 0 ? field : `routes[${index}].${field}`), e.message);
    return true;
  });
}

const ok: RouteConfig = { match: { pathPrefix: "/api" }, origin: "https://api.internal" };

Deno.test("routes: validation errors name the entry and the field", () => {
  configError({ routes: "x" }, -1, "routes");
  configError([ok, "str"], 1, "(entry)");
  configError([{ ...ok, origin: "ftp://x.example" }], 0, "origin");
  configError([{ ...ok, origin: "not a url" }], 0, "origin");
  configError([{ ...ok, origin: "/relative" }], 0, "origin");
  configError([{ ...ok, origin: "https://user:pw@x.example" }], 0, "origin");
  configError([{ ...ok, origin: "https://x.example/?q=1" }], 0, "origin");
  configError([{ ...ok, origin: "https://x.example/#f" }], 0, "origin");
  configError([{ ...ok, origin: "https://x.example\\@evil.example" }], 0, "origin");
  configError([{ ...ok, origin: "service:" }], 0, "origin");
  configError([{ ...ok, origin: "service:bad name" }], 0, "origin");
  configError(
    [ok, { match: { pathPrefix: "api" }, origin: "https://x.example" }],
    1,
    "match.pathPrefix",
  );
  configError(
    [{ match: { pathPrefix: "/a/../b" }, origin: "https://x.example" }],
    0,
    "match.pathPrefix",
  );
  configError([{ match: {}, origin: "https://x.example" }], 0, "match");
  configError([{ origin: "https://x.example" }], 0, "match");
  configError(
    [{ match: { authority: "https://a.example" }, origin: "https://x.example" }],
    0,
    "match.authority",
  );
  configError(
    [{ match: { authority: "u@a.example" }, origin: "https://x.example" }],
    0,
    "match.authority",
  );
  configError(
    [{ match: { authority: "a.example:0" }, origin: "https://x.example" }],
    0,
    "match.authority",
  );
  configError(
    [{ match: { pathprefix: "/x" }, origin: "https://x.example" }],
    0,
    "match.pathprefix",
  );
  configError([{ ...ok, timeout: 5 }], 0, "timeout");
  configError([{ ...ok, timeoutMs: 0 }], 0, "timeoutMs");
  configError([{ ...ok, bodyIdleTimeoutMs: -1 }], 0, "bodyIdleTimeoutMs");
  configError([{ ...ok, bodyIdleTimeoutMs: 2 ** 31 }], 0, "bodyIdleTimeoutMs");
  configError([{ ...ok, maxBodyBytes: -1 }], 0, "maxBodyBytes");
  configError([{ ...ok, stripPrefix: "yes" }], 0, "stripPrefix");
  configError([{ ...ok, gatewayAuth: "short" }], 0, "gatewayAuth");
  // Duplicates after normalization: trailing slash, case, default port.
  configError(
    [ok, { match: { pathPrefix: "/api/" }, origin: "https://other.example" }],
    1,
    "match",
  );
  configError(
    [
      { match: { authority: "A.example:443" }, origin: "https://x.example" },
      { match: { authority: "a.example" }, origin: "https://y.example" },
    ],
    1,
    "match",
  );
  // The secret never appears in an error message.
  assert.throws(
    () => compileRoutes([{ ...ok, gatewayAuth: "s3cr3t\n" }]),
    (e: Error) => !e.message.includes("s3cr3t"),
  );
  assert.throws(
    () => compileRoutes([{ ...ok, origin: "https://u:hunter2@x.example" }]),
    (e: Error) => !e.message.includes("hunter2"),
  );
  assert.deepEqual(compileRoutes([]).routes, []);
});

Deno.test("routes: authority normalization", () => {
  assert.equal(normalizeAuthority("API.Example.COM:443"), "api.example.com");
  assert.equal(normalizeAuthority("api.example.com:80", "http"), "api.example.com");
  assert.equal(normalizeAuthority("api.example.com:80"), "api.example.com:80");
  assert.equal(normalizeAuthority("[2001:DB8::1]:443"), "[2001:db8::1]");
  for (
    const bad of [
      "",
      "a b",
      "u@a",
      "a:",
      "a:99999",
      "a:0x1",
      "a.",
      "a%2eb",
      "[::1",
      "a/b",
      "a\r\nb",
    ]
  ) {
    assert.equal(normalizeAuthority(bad), null, bad);
  }
});

const table = compileRoutes({
  routes: [
    {
      match: { authority: "api.example.com", pathPrefix: "/v1" },
      origin: "https://backend.internal:8443/base",
      stripPrefix: true,
    },
    { match: { authority: "api.example.com" }, origin: "https://api-root.internal" },
    { match: { pathPrefix: "/demo" }, origin: "service:demo" },
  ],
});

Deno.test("routes: matching builds the URL from the route's origin only", () => {
  const m = matchRoute(table, { authority: "API.example.com:443", path: "/v1/items?x=1" });
  assert.equal(m?.url, "https://backend.internal:8443/base/items?x=1");
  assert.equal(
    matchRoute(table, { authority: "api.example.com", path: "/v1" })?.url,
    "https://backend.internal:8443/base/",
  );
  assert.equal(
    matchRoute(table, { authority: "api.example.com", path: "/v1x" })?.url,
    "https://api-root.internal/v1x",
  );
  assert.equal(
    matchRoute(table, { authority: "api.example.com", path: "/" })?.url,
    "https://api-root.internal/",
  );
  const d = matchRoute(table, { authority: "anything.example", path: "/demo/api/hello" });
  assert.equal(d?.service, "demo");
  assert.equal(d?.url, "http://demo.svc.pqgate.invalid/demo/api/hello");
  // Empty authority: the single Host field names the target (RFC 9292 §3.4).
  assert.equal(
    matchRoute(table, { authority: "", path: "/", host: "api.example.com" })?.route.index,
    1,
  );
  // "@" inside a path is data, never userinfo: the host stays the configured one.
  assert.equal(
    new URL(matchRoute(table, { authority: "api.example.com", path: "/@evil.example/x" })!.url)
      .host,
    "api-root.internal",
  );
  assert.equal(matchRoute(table, { authority: "other.example", path: "/v1/x" }), null);
});

Deno.test("routes: open-relay attempts never match", () => {
  const attempts: { authority: string; path: string; host?: string | string[] }[] = [
    { authority: "api.example.com", path: "http://evil.example/" }, // absolute-form target
    { authority: "api.example.com", path: "https://evil.example:443/v1/x" },
    { authority: "api.example.com", path: "//evil.example/x" }, // network-path reference
    { authority: "api.example.com", path: "//user@evil.example/" },
    { authority: "user@api.example.com", path: "/" }, // userinfo in authority
    { authority: "api.example.com@evil.example", path: "/" },
    { authority: "evil.example", path: "/" }, // unknown authority (the relay ask itself)
    { authority: "127.0.0.1", path: "/" }, // IP literals
    { authority: "[::1]", path: "/" },
    { authority: "[::ffff:127.0.0.1]:80", path: "/" },
    { authority: "2130706433", path: "/" }, // decimal IPv4
    { authority: "0177.0.0.1", path: "/" }, // octal IPv4
    { authority: "0x7f.0.0.1", path: "/" }, // hex IPv4
    { authority: "169.254.169.254", path: "/latest/meta-data/" },
    { authority: "api.example.com", path: "/v1/../admin" }, // dot segments
    { authority: "api.example.com", path: "/v1/%2e%2e/admin" },
    { authority: "api.example.com", path: "/v1/%2E%2e/admin" },
    { authority: "api.example.com", path: "/v1/.%2e/admin" },
    { authority: "api.example.com", path: "/v1/./x" },
    { authority: "api.example.com", path: "/v1%2fx" },
    { authority: "api.example.com", path: "/v1\\..\\admin" }, // backslashes
    { authority: "api.example.com", path: "/v1/x\r\nHost: evil.example" }, // CR/LF
    { authority: "api.example.com", path: "/v1/x\u0000" }, // NUL
    { authority: "api.example.com", path: "/v1/x%00" },
    { authority: "api.example.com", path: "/v1/x#frag" },
    { authority: "api.example.com", path: "/v1/x y" },
    { authority: "api.example.com", path: "*" },
    { authority: "api.example.com", path: "" },
    { authority: "api.example.com", path: "/v1/%zz" },
    { authority: "api.example.com\r\n", path: "/" },
    { authority: "api.example.com", path: "/", host: "evil.example" }, // Host disagrees
    { authority: "", path: "/", host: "evil.example" },
    { authority: "", path: "/", host: ["api.example.com", "evil.example"] }, // two Hosts
    { authority: "", path: "/" }, // no target at all
    { authority: "api.example.com.", path: "/" }, // trailing dot
  ];
  for (const a of attempts) assert.equal(matchRoute(table, a), null, JSON.stringify(a));
});

Deno.test("routes: most specific route wins regardless of order", () => {
  const t = compileRoutes([
    { match: { pathPrefix: "/" }, origin: "https://catchall.internal" },
    { match: { pathPrefix: "/a" }, origin: "https://a.internal" },
    { match: { pathPrefix: "/a/b" }, origin: "https://ab.internal" },
    { match: { authority: "x.example" }, origin: "https://x.internal" },
  ]);
  const host = (path: string, authority = "y.example") =>
    new URL(matchRoute(t, { authority, path })!.url).host;
  assert.equal(host("/a/b/c"), "ab.internal");
  assert.equal(host("/a/bc"), "a.internal");
  assert.equal(host("/z"), "catchall.internal");
  assert.equal(host("/a/b", "x.example"), "x.internal");
});

Deno.test("WebSocket routes (PROTOCOL.md §6.9): ws(s) origins match WebSocket streams only, HTTP routes requests only", () => {
  const t = compileRoutes([
    { match: { authority: "a.example" }, origin: "https://api.internal" },
    // The same match twice is fine: one HTTP, one WebSocket route.
    { match: { authority: "a.example" }, origin: "wss://ws.internal/base" },
    { match: { authority: "b.example" }, origin: "service:chat", websocket: true },
  ]);
  assert.equal(
    matchRoute(t, { authority: "a.example", path: "/x" })?.url,
    "https://api.internal/x",
  );
  assert.equal(
    matchRoute(t, { authority: "a.example", path: "/x?q=1", websocket: true })?.url,
    "wss://ws.internal/base/x?q=1",
  );
  assert.equal(matchRoute(t, { authority: "b.example", path: "/" }), null);
  assert.equal(
    matchRoute(t, { authority: "b.example", path: "/", websocket: true })?.service,
    "chat",
  );
  assert.equal(matchRoute(t, { authority: "c.example", path: "/", websocket: true }), null);
  // A WebSocket stream never reaches an HTTP route, whatever its path.
  const httpOnly = compileRoutes([{ match: { pathPrefix: "/" }, origin: "https://x.internal" }]);
  assert.equal(matchRoute(httpOnly, { authority: "x", path: "/", websocket: true }), null);
});

Deno.test("WebSocket routes: what the table refuses", () => {
  const bad = (e: Record<string, unknown>, field: string) => {
    assert.throws(
      () => compileRoutes([{ match: { authority: "a" }, origin: "wss://x", ...e } as never]),
      (err: unknown) => err instanceof RouteConfigError && err.field === field,
      JSON.stringify(e),
    );
  };
  bad({ websocket: false }, "websocket");
  bad({ origin: "https://x", websocket: true }, "websocket");
  bad({ websocket: "yes" }, "websocket");
  bad({ maxBodyBytes: 10 }, "maxBodyBytes");
  bad({ bodyIdleTimeoutMs: 10 }, "bodyIdleTimeoutMs");
  bad({ origin: "wss://user:pw@x" }, "origin");
  bad({ origin: "wss://x/?q" }, "origin");
  assert.throws(() =>
    compileRoutes([
      { match: { authority: "a" }, origin: "wss://x" },
      { match: { authority: "a" }, origin: "ws://y" },
    ]), /duplicates routes\[0\]/);
});
