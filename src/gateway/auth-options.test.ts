import assert from "node:assert/strict";
import { generateStaticKey } from "../protocol/static-keys.ts";
import { compileRoutes } from "../proxy/routes.ts";
import type { AuthVerifier } from "../tunnel/types.ts";
import { allowlistedFetch, routeOrigins } from "./auth-options.ts";
import { ConfigError } from "./config-error.ts";
import { createGateway } from "./create-gateway.ts";
import { configErrorOf } from "./testing.ts";

const key = generateStaticKey(new Uint8Array(32).fill(3));
const fake: AuthVerifier = { methods: new Set(["psk"]), psk: () => null };

Deno.test("createGateway auth: the JWKS URL must be an origin of the route table", () => {
  const routes = [{ match: { pathPrefix: "/" }, origin: "https://api.example:8443/base" }];
  const e = configErrorOf(() =>
    createGateway({
      keys: key,
      routes,
      auth: { token: { jwksUrl: "https://evil.example/jwks.json" } },
    })
  );
  assert.equal(e.path, "options.auth.token.jwksUrl");
  assert.match(
    e.message,
    /is on https:\/\/evil\.example, which is not the origin of any URL route/,
  );
  // The same host on another port is another origin.
  assert.throws(
    () =>
      createGateway({
        keys: key,
        routes,
        auth: { token: { jwksUrl: "https://api.example/jwks.json" } },
      }),
    ConfigError,
  );
  const g = createGateway({
    keys: key,
    routes,
    auth: { token: { jwksUrl: "https://api.example:8443/.well-known/jwks.json" } },
  });
  assert.deepEqual([...g.auth!.methods], ["token"]);
  assert.equal(g.sessionConfig.auth, g.auth);
});

Deno.test("createGateway auth: the verifier's own errors name options.auth, never a secret", () => {
  const e = configErrorOf(() =>
    createGateway({
      keys: key,
      auth: { token: { keys: [{ secret: "short-SECRETISH" }] } },
    })
  );
  assert.match(e.message, /^createGateway: options\.auth: /);
  assert.ok(!e.message.includes("SECRETISH"), e.message);
});

Deno.test("createGateway auth: routes that ask for a method nobody enabled are refused", () => {
  const routes = [{
    match: { pathPrefix: "/" },
    origin: "https://a.example",
    auth: "required" as const,
  }];
  assert.equal(
    configErrorOf(() => createGateway({ keys: key, routes })).message,
    "createGateway: options.routes[0].auth is required, but no client authentication method is enabled (auth)",
  );
  assert.match(
    configErrorOf(() =>
      createGateway({ keys: key, routes: [{ ...routes[0], authMethods: ["token"] }], auth: fake })
    ).message,
    /options\.routes\[0\]\.authMethods accepts only token, none of which is enabled \(enabled: psk\)/,
  );
  const g = createGateway({ keys: key, routes, auth: fake });
  assert.equal(g.auth, fake); // a ready verifier is used as it is
});

Deno.test("createGateway auth: the demo routes add /api/me (required) only with auth", () => {
  assert.deepEqual(createGateway({ keys: key }).routes.routes.map((r) => r.auth), ["none", "none"]);
  const g = createGateway({ keys: key, auth: fake });
  assert.deepEqual(
    g.routes.routes.map((r) => [r.pathPrefix, r.auth]),
    [["/api/me", "required"], ["/ws", "none"], ["/", "none"]],
  );
  assert.equal(createGateway({ keys: key }).auth, null);
});

Deno.test("JWKS fetch: only the route table's origins, never a redirect", async () => {
  const origins = routeOrigins(compileRoutes([
    { match: { pathPrefix: "/a" }, origin: "https://id.example/base" },
    { match: { pathPrefix: "/s" }, origin: "service:svc" },
  ]));
  assert.deepEqual([...origins], ["https://id.example"]);
  const seen: string[] = [];
  const f = allowlistedFetch((r) => {
    seen.push(`${r.url} ${r.redirect}`);
    return Promise.resolve(
      r.url.endsWith("/moved")
        ? new Response(null, { status: 302, headers: { location: "https://evil.example/" } })
        : Response.json({ keys: [] }),
    );
  }, origins);
  assert.equal((await f("https://id.example/jwks.json")).status, 200);
  await assert.rejects(f("https://evil.example/jwks.json"), /not an origin of the route table/);
  await assert.rejects(f("http://id.example/jwks.json"), /not an origin/); // scheme counts
  await assert.rejects(f("https://id.example/moved"), /redirected/);
  assert.deepEqual(seen, [
    "https://id.example/jwks.json manual",
    "https://id.example/moved manual",
  ]);
});
