import assert from "node:assert/strict";
import { toBase64Url } from "../protocol/bytes.ts";
import { checkAuthEnv, checkAuthFile, unreachableAuthRoutes } from "./auth-config.ts";
import { gatewayOptionsFromEnv, parseConfigFile } from "./config.ts";
import { configErrorOf, route } from "./testing.ts";

/** The demo user's hash (src/demo/demo-user.ts): a valid Argon2id PHC string. */
const PHC =
  "$argon2id$v=19$m=19456,t=2,p=1$4VWK60X8ryo+uRBDs1PTfQ$GVy47UiKi+aIxxlG7kC/lGUqNxyNkDlh10SAVzeNsS8";
const KEYS = JSON.stringify([toBase64Url(new Uint8Array(32).fill(7))]);

const file = (auth: unknown, routes: unknown[] = []) =>
  configErrorOf(() => parseConfigFile({ routes, auth }, "pqgate.json")).message;

Deno.test("auth config (file): methods follow the configured sources; every setting kept", () => {
  const c = parseConfigFile({
    routes: [route({ auth: "required" })],
    auth: {
      usersFile: "users.txt",
      pskFile: "psks.txt",
      token: {
        issuer: "https://id.example",
        audience: ["api", "api2"],
        algorithms: ["EdDSA", "HS256"],
        jwksUrl: "https://api.example/.well-known/jwks.json",
        secretEnv: "API_JWT_SECRET",
        clockToleranceSec: 10,
      },
      limits: { maxInFlight: 2, maxWaiting: 4, backoffBaseMs: 500 },
    },
  }, "pqgate.json");
  assert.deepEqual(c.auth, {
    methods: ["password", "token", "psk"],
    usersFile: "users.txt",
    pskFile: "psks.txt",
    token: {
      issuer: "https://id.example",
      audience: ["api", "api2"],
      algorithms: ["EdDSA", "HS256"],
      jwksUrl: "https://api.example/.well-known/jwks.json",
      secretEnv: "API_JWT_SECRET",
      clockToleranceSec: 10,
    },
    limits: { maxInFlight: 2, maxWaiting: 4, backoffBaseMs: 500 },
  });
  assert.deepEqual(checkAuthFile({ pskFile: "p" }, { path: ["auth"] }).methods, ["psk"]);
  assert.equal(parseConfigFile({ routes: [] }, "x.json").auth, undefined);
});

Deno.test("auth config (file): errors name the setting and never echo a secret", () => {
  const cases: [unknown, RegExp][] = [
    ["yes", /^pqgate.json: auth must be an object$/],
    [{ users: "u" }, /^pqgate.json: auth.users is not a known setting/],
    [{}, /^pqgate.json: auth enables no method/],
    [
      { methods: ["password"] },
      /^pqgate.json: auth.methods lists password, but usersFile is not set$/,
    ],
    [
      { methods: ["psk"], usersFile: "u", pskFile: "p" },
      /auth.methods leaves out password, but usersFile is set/,
    ],
    [{ methods: ["cert"] }, /^pqgate.json: auth.methods\[0\] must be one of password, token, psk/],
    [{ usersFile: "" }, /auth.usersFile must be a path/],
    [{ token: {} }, /^pqgate.json: auth.token needs jwksUrl, keys, secretEnv or secretFile$/],
    [
      { token: { secretEnv: "A", secretFile: "f" } },
      /auth.token.secretEnv and secretFile exclude each other/,
    ],
    [{ token: { secretEnv: "A B" } }, /auth.token.secretEnv must be an environment variable name/],
    [{ token: { jwksUrl: "ftp://x/j" } }, /auth.token.jwksUrl must be an http\(s\) URL/],
    [{ token: { jwksUrl: "https://u:p@x/j" } }, /without userinfo/],
    [
      { token: { secretEnv: "S", algorithms: ["RS256"] } },
      /auth.token.algorithms\[0\] must be one of EdDSA, ES256, HS256/,
    ],
    [
      { token: { secretEnv: "S", algorithms: [] } },
      /auth.token.algorithms must be a non-empty array/,
    ],
    [{ token: { secretEnv: "S", audience: [] } }, /auth.token.audience must not be empty/],
    [
      { token: { secretEnv: "S", clockToleranceSec: -1 } },
      /auth.token.clockToleranceSec must be a non-negative integer/,
    ],
    [
      { token: { keys: [{ pem: "x", alg: "ES256" }] } },
      /auth.token.keys\[0\].pem must be a -----BEGIN PUBLIC KEY/,
    ],
    [{ token: { keys: [{ foo: 1 }] } }, /auth.token.keys\[0\] must be \{ "jwk"/],
    [
      { token: { keys: [{ jwk: { kty: "OKP", crv: "Ed25519", x: "a", d: "PRIVATE-D" } }] } },
      /is a private key/,
    ],
    [{ limits: { maxInFlight: 1.5 } }, /auth.limits.maxInFlight must be a non-negative integer/],
    [{ pskFile: "p", limits: { queue: 1 } }, /auth.limits.queue is not a known setting/],
  ];
  for (const [auth, want] of cases) assert.match(file(auth), want, JSON.stringify(auth));
  // A symmetric key inline is refused without its value in the message.
  for (
    const key of [{ secret: "s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t" }, {
      jwk: { kty: "oct", k: "s3cr3t-s3cr3t-s3cr3t" },
    }]
  ) {
    const m = file({ token: { keys: [key] } });
    assert.match(
      m,
      /auth.token.keys\[0\] holds a secret: give an HS256 secret as secretEnv or secretFile/,
    );
    assert.ok(!m.includes("s3cr3t"), m);
  }
  const priv = file({
    token: { keys: [{ jwk: { kty: "OKP", crv: "Ed25519", x: "a", d: "PRIVATE-D" } }] },
  });
  assert.ok(!priv.includes("PRIVATE-D"));
});

Deno.test("auth config: a route asking for a method nobody enabled is refused", () => {
  assert.equal(
    file(undefined, [route({ auth: "required" })]),
    "pqgate.json: routes[0].auth is required, but no client authentication method is enabled (auth)",
  );
  assert.equal(
    file({ usersFile: "u" }, [route({ auth: "optional", authMethods: ["psk", "token"] })]),
    "pqgate.json: routes[0].authMethods accepts only psk, token, none of which is enabled (enabled: password)",
  );
  // Auth "none" routes, and routes accepting an enabled method, are fine.
  parseConfigFile({
    routes: [
      route(),
      route({ match: { pathPrefix: "/p" }, auth: "required", authMethods: ["password", "psk"] }),
    ],
    auth: { usersFile: "u" },
  }, "pqgate.json");
  assert.deepEqual(unreachableAuthRoutes([{ auth: "none" }, { auth: "required" }], ["token"]), []);
});

Deno.test("auth config (environment): PQGATE_USERS / PQGATE_PSKS / PQGATE_TOKEN_SECRET / PQGATE_AUTH", () => {
  assert.equal(gatewayOptionsFromEnv({ PQGATE_KEYS: KEYS }).auth, undefined);
  const users = `alice:${PHC}\n`;
  const a = gatewayOptionsFromEnv({ PQGATE_KEYS: KEYS, PQGATE_USERS: users }).auth!;
  assert.deepEqual([...a.password!.users.keys()], ["alice"]);
  assert.equal(a.token, undefined);
  assert.equal(a.psk, undefined);
  const b = gatewayOptionsFromEnv({
    PQGATE_KEYS: KEYS,
    PQGATE_PSKS: `robot-1:${toBase64Url(new Uint8Array(32).fill(9))}\n`,
    PQGATE_TOKEN_SECRET: "x".repeat(40) + "\n",
    PQGATE_AUTH: JSON.stringify({ token: { audience: "api" }, limits: { maxInFlight: 1 } }),
  }).auth!;
  assert.equal(b.password, undefined);
  assert.deepEqual(b.psk!.keys.get("robot-1"), new Uint8Array(32).fill(9));
  // The secret's line end (a file, `wrangler secret put`) is not part of it.
  assert.deepEqual(b.token, { audience: "api", keys: [{ secret: "x".repeat(40), alg: "HS256" }] });
  assert.deepEqual(b.limits, { maxInFlight: 1 });
  // A bad line of a secret names the variable and the line, never the content.
  for (
    const [vars, want] of [
      [{ PQGATE_USERS: "alice:not-a-phc-SECRETISH" }, /^PQGATE_USERS: users file line 1: /],
      [{ PQGATE_PSKS: "robot-1:SECRETISH" }, /^PQGATE_PSKS: PSK file line 1: key must be/],
    ] as const
  ) {
    const m = configErrorOf(() => gatewayOptionsFromEnv({ PQGATE_KEYS: KEYS, ...vars })).message;
    assert.match(m, want);
    assert.ok(!m.includes("SECRETISH"), m);
  }
  // The token secret alone enables token.
  assert.deepEqual(checkAuthEnv(undefined, { tokenSecret: "x".repeat(40) })?.methods, ["token"]);
  const bad: [Record<string, string>, RegExp][] = [
    [{ PQGATE_AUTH: "[1]" }, /^PQGATE_AUTH must be a JSON object$/],
    [{ PQGATE_AUTH: "{}" }, /^PQGATE_AUTH enables no method/],
    [{ PQGATE_AUTH: '{"usersFile":"u"}' }, /^PQGATE_AUTH.usersFile is not a known setting/],
    [
      { PQGATE_AUTH: '{"token":{"secretEnv":"X"}}' },
      /^PQGATE_AUTH.token.secretEnv is not a known setting/,
    ],
    [
      { PQGATE_AUTH: '{"token":{"audience":"a"}}' },
      /PQGATE_AUTH.token needs jwksUrl, keys or the PQGATE_TOKEN_SECRET secret/,
    ],
    [
      { PQGATE_AUTH: '{"methods":["password"]}' },
      /PQGATE_AUTH.methods lists password, but PQGATE_USERS is not set/,
    ],
    [
      { PQGATE_ROUTES: JSON.stringify([route({ auth: "required" })]) },
      /^PQGATE_ROUTES\[0\].auth is required, but no client authentication method is enabled/,
    ],
  ];
  for (const [vars, want] of bad) {
    assert.match(
      configErrorOf(() => gatewayOptionsFromEnv({ PQGATE_KEYS: KEYS, ...vars })).message,
      want,
    );
  }
});
