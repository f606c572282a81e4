import assert from "node:assert/strict";
import type { ClientIdentity } from "../tunnel/types.ts";
import {
  compileRoutePolicy,
  decideAuth,
  encodeHeaderValue,
  HEADER_AUTH_ISSUER,
  HEADER_AUTH_METHOD,
  HEADER_AUTH_SUBJECT,
  IDENTITY_HEADERS,
  identityHeaders,
  MAX_IDENTITY_VALUE,
  type RoutePolicy,
} from "./auth-policy.ts";
import { forward, type ForwardContext } from "./forward.ts";
import { compileRoutes, RouteConfigError } from "./routes.ts";
import { serviceLookup } from "./service-fetch.ts";
import { isSpoofableRequestHeader } from "./spoofable-headers.ts";

const NOW = Date.UTC(2026, 11, 3);
const alice: ClientIdentity = { method: "password", subject: "alice" };
const tok: ClientIdentity = {
  method: "token",
  subject: "svc-7",
  issuer: "https://id.example.com",
  expiresAt: NOW + 60_000,
};
const pol = (auth: RoutePolicy["auth"], methods: string[] | null = null): RoutePolicy => ({
  auth,
  authMethods: methods === null ? null : new Set(methods as ClientIdentity["method"][]),
});

Deno.test("auth policy: none ignores the identity and sends no identity header", () => {
  assert.deepEqual(decideAuth(pol("none"), alice, NOW), { ok: true, headers: [] });
  assert.deepEqual(decideAuth(pol("none"), null, NOW), { ok: true, headers: [] });
});

Deno.test("auth policy: optional forwards either way, with headers only when authenticated", () => {
  assert.deepEqual(decideAuth(pol("optional"), null, NOW), { ok: true, headers: [] });
  assert.deepEqual(decideAuth(pol("optional"), undefined, NOW), { ok: true, headers: [] });
  assert.deepEqual(decideAuth(pol("optional"), alice, NOW), {
    ok: true,
    headers: [[HEADER_AUTH_METHOD, "password"], [HEADER_AUTH_SUBJECT, "alice"]],
  });
  // An expired token counts as none: forwarded without identity.
  assert.deepEqual(decideAuth(pol("optional"), { ...tok, expiresAt: NOW }, NOW), {
    ok: true,
    headers: [],
  });
});

Deno.test("auth policy: required → 401 auth_required with a hint naming the accepted methods", () => {
  const d = decideAuth(pol("required"), null, NOW);
  assert.deepEqual(d, {
    ok: false,
    code: "auth_required",
    extra: { "www-authenticate": 'PQGate methods="password token psk"' },
  });
  const only = decideAuth(pol("required", ["token"]), undefined, NOW);
  assert.equal(!only.ok && only.extra?.["www-authenticate"], 'PQGate methods="token"');
  // Only what the gateway enables too.
  const enabled = decideAuth(pol("required", ["token", "psk"]), null, NOW, new Set(["psk"]));
  assert.equal(!enabled.ok && enabled.extra?.["www-authenticate"], 'PQGate methods="psk"');
  // A token identity whose expiresAt has passed (or is now) is no identity, and says so.
  for (const expiresAt of [NOW, NOW - 1]) {
    const e = decideAuth(pol("required"), { ...tok, expiresAt }, NOW);
    assert.equal(!e.ok && e.code, "auth_required");
    assert.equal(
      !e.ok && e.extra?.["www-authenticate"],
      'PQGate methods="password token psk", error="token_expired"',
    );
  }
  const ok = decideAuth(pol("required"), tok, NOW);
  assert.deepEqual(ok, {
    ok: true,
    headers: [
      [HEADER_AUTH_METHOD, "token"],
      [HEADER_AUTH_SUBJECT, "svc-7"],
      [HEADER_AUTH_ISSUER, "https://id.example.com"],
    ],
  });
});

Deno.test("auth policy: a method the route does not accept → 403 auth_method_not_allowed", () => {
  for (const auth of ["optional", "required"] as const) {
    assert.deepEqual(decideAuth(pol(auth, ["token", "psk"]), alice, NOW), {
      ok: false,
      code: "auth_method_not_allowed",
    });
    assert.equal(decideAuth(pol(auth, ["password"]), alice, NOW).ok, true);
  }
});

Deno.test("auth policy: subject and issuer are header-safe (no CR/LF/control/non-ASCII passes)", () => {
  const nasty = "bob\r\nx-admin: 1\u0000\u007f é 🙂 %41 \ud800";
  const h = identityHeaders({ method: "token", subject: nasty, issuer: "iss\nx: y" })!;
  for (const [, v] of h) assert.match(v, /^[\x21-\x7e]+$/, v);
  assert.equal(decodeURIComponent(h[1][1]), nasty.replace("\ud800", "\ufffd"));
  assert.equal(decodeURIComponent(h[2][1]), "iss\nx: y");
  // The values are accepted by Headers (they would throw on CR/LF) and stay single fields.
  const headers = new Headers(h);
  assert.equal([...headers.keys()].length, 3);
  assert.equal(headers.get("x-admin"), null);
  // Ordinary subjects stay readable.
  assert.equal(encodeHeaderValue("alice@example.com"), "alice@example.com");
  assert.equal(encodeHeaderValue("https://id.example.com/t/1"), "https://id.example.com/t/1");
  assert.equal(encodeHeaderValue("a b%"), "a%20b%25");
});

Deno.test("auth policy: an identity that cannot be sent counts as none (bounded length, empty, unknown method)", () => {
  assert.equal(encodeHeaderValue("a".repeat(MAX_IDENTITY_VALUE))?.length, MAX_IDENTITY_VALUE);
  assert.equal(encodeHeaderValue("a".repeat(MAX_IDENTITY_VALUE + 1)), null);
  assert.equal(encodeHeaderValue("é".repeat(200)), null); // 1,200 encoded characters
  const long = { method: "token" as const, subject: "a".repeat(MAX_IDENTITY_VALUE + 1) };
  assert.equal(decideAuth(pol("required"), long, NOW).ok, false);
  assert.deepEqual(decideAuth(pol("optional"), long, NOW), { ok: true, headers: [] });
  assert.equal(decideAuth(pol("required"), { method: "psk", subject: "" }, NOW).ok, false);
  const odd = { method: "cert", subject: "x" } as unknown as ClientIdentity;
  assert.equal(decideAuth(pol("required"), odd, NOW).ok, false);
});

Deno.test("auth policy: the identity header names are in the always-dropped pqgate- family", () => {
  for (const n of IDENTITY_HEADERS) assert.ok(isSpoofableRequestHeader(n), n);
});

Deno.test("auth policy: route config checks auth and authMethods", () => {
  assert.deepEqual(compileRoutePolicy(undefined, undefined), { auth: "none", authMethods: null });
  assert.deepEqual(compileRoutePolicy("required", ["psk", "token"]), {
    auth: "required",
    authMethods: new Set(["psk", "token"]),
  });
  const bad: [unknown, unknown, RegExp][] = [
    ["yes", undefined, /must be "none", "optional" or "required"/],
    ["required", [], /non-empty array/],
    ["required", "token", /non-empty array/],
    ["required", ["cert"], /unknown method "cert"/],
    ["required", ["token", "token"], /lists token twice/],
    [undefined, ["token"], /needs auth "optional" or "required"/],
  ];
  for (const [a, m, want] of bad) {
    const r = compileRoutePolicy(a, m);
    assert.ok(Array.isArray(r), JSON.stringify([a, m]));
    assert.match(r[1], want);
  }
  const table = compileRoutes([
    { match: { pathPrefix: "/a" }, origin: "https://a.example", auth: "optional" },
    { match: { pathPrefix: "/b" }, origin: "https://b.example" },
  ]);
  assert.deepEqual(table.routes.map((r) => r.auth), ["optional", "none"]);
  assert.throws(
    () =>
      compileRoutes([{ match: { pathPrefix: "/" }, origin: "https://a", auth: "always" as never }]),
    (e: unknown) => e instanceof RouteConfigError && e.field === "auth" && e.index === 0,
  );
});

// ---- through forward(): the origin's view ----

function gatewayWith(seen: Headers[]) {
  const routes = compileRoutes([
    { match: { pathPrefix: "/open" }, origin: "service:o" },
    { match: { pathPrefix: "/maybe" }, origin: "service:o", auth: "optional" },
    { match: { pathPrefix: "/private" }, origin: "service:o", auth: "required" },
    {
      match: { pathPrefix: "/machines" },
      origin: "service:o",
      auth: "required",
      authMethods: ["psk"],
    },
  ]);
  let calls = 0;
  const services = serviceLookup({
    o: {
      fetch: (r: Request) => {
        calls++;
        seen.push(r.headers);
        return new Response("ok");
      },
    },
  });
  const ctx = (identity: ClientIdentity | null, extra: Partial<ForwardContext> = {}) => ({
    routes,
    clientAddress: "203.0.113.9",
    suite: 1,
    sessionId: "s",
    fetch: () => Promise.reject(new Error("no network")),
    services,
    timeoutMs: 1000,
    maxBodyBytes: 1024,
    identity,
    now: () => NOW,
    ...extra,
  });
  return { ctx, calls: () => calls };
}

const forged: [string, string][] = [
  ["pqgate-auth-method", "password"],
  ["pqgate-auth-subject", "admin"],
  ["pqgate-auth-issuer", "https://evil.example"],
  ["x-ok", "1"],
];

const get = (path: string, headers: [string, string][] = forged) => ({
  method: "GET",
  authority: "api.example",
  path,
  headers,
  body: null,
});

Deno.test("forward: a required route answers 401 auth_required without calling the origin; the hint is on it", async () => {
  const seen: Headers[] = [];
  const g = gatewayWith(seen);
  const access = { route: "", authMethod: null };
  const r = await forward(get("/private/x"), g.ctx(null, { access }));
  assert.equal(r.status, 401);
  assert.equal(r.headers.get("pqgate-error"), "auth_required");
  assert.equal(r.headers.get("www-authenticate"), 'PQGate methods="password token psk"');
  assert.deepEqual(await r.json(), { error: "auth_required", status: 401 });
  assert.equal(g.calls(), 0);
  assert.equal(access.authMethod, null);
  // A body is cancelled, not read.
  let cancelled = false;
  const body = new ReadableStream<Uint8Array>({ cancel: () => void (cancelled = true) });
  const p = await forward({ ...get("/private/x"), method: "POST", body }, g.ctx(null));
  assert.equal(p.status, 401);
  assert.ok(cancelled);
  const expired = await forward(get("/private/x"), g.ctx({ ...tok, expiresAt: NOW - 1 }));
  assert.equal(expired.status, 401);
  assert.match(expired.headers.get("www-authenticate")!, /token_expired/);
});

Deno.test("forward: a method the route does not accept → 403 auth_method_not_allowed", async () => {
  const g = gatewayWith([]);
  const r = await forward(get("/machines/x"), g.ctx(alice));
  assert.equal(r.status, 403);
  assert.equal(r.headers.get("pqgate-error"), "auth_method_not_allowed");
  assert.equal(g.calls(), 0);
  const ok = await forward(get("/machines/x"), g.ctx({ method: "psk", subject: "robot-1" }));
  assert.equal(ok.status, 200);
});

Deno.test("forward: the origin sees the gateway's identity headers, never a client's forged copies", async () => {
  const seen: Headers[] = [];
  const g = gatewayWith(seen);
  const access = { route: "", authMethod: null as string | null };
  assert.equal((await forward(get("/private/a"), g.ctx(tok, { access }))).status, 200);
  assert.equal(seen[0].get("pqgate-auth-method"), "token");
  assert.equal(seen[0].get("pqgate-auth-subject"), "svc-7");
  assert.equal(seen[0].get("pqgate-auth-issuer"), "https://id.example.com");
  assert.equal(seen[0].get("x-ok"), "1");
  assert.equal(access.authMethod, "token");
  // Forged copies are dropped on every kind of route, authenticated or not.
  for (
    const [path, identity] of [
      ["/open/a", null],
      ["/open/a", alice], // auth none: not told, even though the channel is authenticated
      ["/maybe/a", null],
    ] as const
  ) {
    seen.length = 0;
    assert.equal((await forward(get(path), g.ctx(identity))).status, 200);
    for (const [n] of forged.slice(0, 3)) assert.equal(seen[0].get(n), null, `${path} ${n}`);
    assert.equal(seen[0].get("x-ok"), "1");
  }
  // Optional + password: the subject, no issuer (a client's forged issuer does not survive).
  seen.length = 0;
  await forward(get("/maybe/a"), g.ctx(alice));
  assert.equal(seen[0].get("pqgate-auth-subject"), "alice");
  assert.equal(seen[0].get("pqgate-auth-issuer"), null);
});

Deno.test("forward: a subject with CR/LF reaches the origin encoded, as one field, injecting nothing", async () => {
  const seen: Headers[] = [];
  const g = gatewayWith(seen);
  const subject = "mallory\r\npqgate-auth-subject: admin\r\nx-admin: yes";
  const r = await forward(get("/private/a", []), g.ctx({ method: "token", subject }));
  assert.equal(r.status, 200);
  assert.equal(seen[0].get("x-admin"), null);
  const v = seen[0].get("pqgate-auth-subject")!;
  assert.match(v, /^[\x21-\x7e]+$/);
  assert.equal(decodeURIComponent(v), subject);
});
