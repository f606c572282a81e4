import assert from "node:assert/strict";
import { toBase64Url } from "../protocol/bytes.ts";
import { generateStaticKey } from "../protocol/static-keys.ts";
import {
  CONFIG_FILE_SETTINGS,
  ConfigError,
  GATEWAY_ENV_VARS,
  GATEWAY_SETTINGS,
  type GatewayEnv,
  gatewayOptionsFromEnv,
  parseConfigFile,
  parseConfigText,
  parseLogLevel,
} from "./config.ts";
import { createGateway } from "./create-gateway.ts";
import { configErrorOf, route } from "./testing.ts";

const seed = new Uint8Array(32).map((_, i) => 200 - i);
const SECRET_SEED = toBase64Url(seed);
const KEYS = JSON.stringify([SECRET_SEED]);
const SECRET_AUTH = "0123456789-very-secret-gateway-auth";

const fromFile = (settings: Record<string, unknown>) =>
  configErrorOf(() => parseConfigFile({ routes: [], ...settings }, "pqgate.json"));
const fromEnv = (vars: GatewayEnv) =>
  configErrorOf(() => gatewayOptionsFromEnv({ PQGATE_KEYS: KEYS, ...vars }));

Deno.test("config: the same bad value is reported at its path from a file and from the environment", () => {
  // [file settings, env vars, path in the file, path in the environment, message after the path]
  const bad = [route(), route({ match: { pathPrefix: "/b" } }), route({ origin: "ftp://x" })];
  const cases: [Record<string, unknown>, GatewayEnv, string, string, RegExp][] = [
    [
      { routes: bad },
      { PQGATE_ROUTES: JSON.stringify(bad) },
      "routes[2].origin",
      "PQGATE_ROUTES[2].origin",
      /^: scheme must be http or https \(ws or wss for a WebSocket route; got ftp:\)$/,
    ],
    [
      { routes: [route({ match: { authority: "a.example", pathprefix: "/" } })] },
      { PQGATE_ROUTES: JSON.stringify([route({ match: { pathprefix: "/" } })]) },
      "routes[0].match.pathprefix",
      "PQGATE_ROUTES[0].match.pathprefix",
      /^: unknown field$/,
    ],
    [
      { limits: { maxStreams: 0 } },
      { PQGATE_LIMITS: '{"maxStreams":0}' },
      "limits.maxStreams",
      "PQGATE_LIMITS.maxStreams",
      /^ must be an integer from 1 to 4294967295, got 0$/,
    ],
    [
      { websockets: { maxPerChannel: 0 } },
      { PQGATE_WEBSOCKETS: '{"maxPerChannel":0}' },
      "websockets.maxPerChannel",
      "PQGATE_WEBSOCKETS.maxPerChannel",
      /^ must be an integer from 1 to 1024, got 0$/,
    ],
    [
      { websockets: { connect: "x" } }, // connectors are code, never configuration
      { PQGATE_WEBSOCKETS: '{"connect":"x"}' },
      "websockets.connect",
      "PQGATE_WEBSOCKETS.connect",
      /^ is not a known setting \(known: maxPerChannel, maxOriginSockets, closeTimeoutMs\)$/,
    ],
    [
      { limits: { maxWsMessage: 16 * 1024 * 1024 + 1 } },
      { PQGATE_LIMITS: '{"maxWsMessage":16777217}' },
      "limits.maxWsMessage",
      "PQGATE_LIMITS.maxWsMessage",
      /^ must be an integer from 0 to 16777216, got 16777217$/,
    ],
    [
      { limits: { maxStream: 5 } },
      { PQGATE_LIMITS: '{"maxStream":5}' },
      "limits.maxStream",
      "PQGATE_LIMITS.maxStream",
      /^ is not a known limit \(known: maxStreams, /,
    ],
    [
      { originBodyIdleTimeoutMs: 2 ** 31 },
      { PQGATE_ORIGIN_BODY_IDLE_TIMEOUT_MS: String(2 ** 31) },
      "originBodyIdleTimeoutMs",
      "PQGATE_ORIGIN_BODY_IDLE_TIMEOUT_MS",
      /^ must be an integer number of milliseconds from 0 \(none\) to 2147483647, got 2147483648$/,
    ],
    [
      { originTimeoutMs: 2 ** 32 },
      { PQGATE_ORIGIN_TIMEOUT_MS: String(2 ** 32) },
      "originTimeoutMs",
      "PQGATE_ORIGIN_TIMEOUT_MS",
      /^ must be a positive integer number of milliseconds, got 4294967296$/,
    ],
    [
      { allowedOrigins: ["https://a.example", "https://B.example"] },
      { PQGATE_ALLOWED_ORIGINS: "https://a.example,https://B.example" },
      "allowedOrigins",
      "PQGATE_ALLOWED_ORIGINS",
      /^\[1\] must be exactly scheme:\/\/host\[:port\]/,
    ],
  ];
  for (const [settings, vars, filePath, envPath, rest] of cases) {
    const f = fromFile(settings);
    assert.equal(f.path, filePath);
    assert.ok(f.message.startsWith(`pqgate.json: ${filePath}`), f.message);
    assert.match(f.message.slice(`pqgate.json: ${filePath}`.length), rest, f.message);
    const e = fromEnv(vars);
    assert.equal(e.path, envPath);
    assert.ok(e.message.startsWith(envPath), e.message);
    assert.match(e.message.slice(envPath.length), rest, e.message);
  }
});

Deno.test("config: what the environment decodes first names the variable", () => {
  const cases: [GatewayEnv, string, RegExp][] = [
    [{ PQGATE_ROUTES: "{}" }, "PQGATE_ROUTES", /^PQGATE_ROUTES must be a JSON array of routes$/],
    [{ PQGATE_LIMITS: "[" }, "PQGATE_LIMITS", /^PQGATE_LIMITS is not valid JSON/],
    [{ PQGATE_ALLOW_ANONYMOUS: "yes" }, "PQGATE_ALLOW_ANONYMOUS", /must be "true" or "false"/],
    [{ PQGATE_ORIGIN_TIMEOUT_MS: "1.5" }, "PQGATE_ORIGIN_TIMEOUT_MS", /positive integer/],
    [{ PQGATE_CRYPTO: "fast" }, "PQGATE_CRYPTO", /^PQGATE_CRYPTO must be "auto" or "noble"$/],
    [{ PQGATE_KEYS: "[]" }, "PQGATE_KEYS", /^PQGATE_KEYS must hold at least one key$/],
    [{ PQGATE_KEYS: '[{"seed": 5}]' }, "PQGATE_KEYS[0]", /^PQGATE_KEYS\[0\]: seed must be/],
    [
      { PQGATE_KEYS: JSON.stringify([{ seed: SECRET_SEED, kem: "RSA" }]) },
      "PQGATE_KEYS[0].kem",
      /^PQGATE_KEYS\[0\]\.kem must be "X-Wing"$/,
    ],
  ];
  for (const [vars, path, re] of cases) {
    const e = fromEnv(vars);
    assert.equal(e.path, path, e.message);
    assert.match(e.message, re);
  }
});

Deno.test("config: no ConfigError message carries a secret value", () => {
  const secrets = [SECRET_SEED, SECRET_AUTH, SECRET_AUTH.slice(0, 12), SECRET_SEED.slice(0, 12)];
  const errors: ConfigError[] = [
    // Key material: a seed of the wrong length, a bad key_id, a duplicate, broken JSON around it.
    fromEnv({ PQGATE_KEYS: JSON.stringify([SECRET_SEED.slice(0, 40)]) }),
    fromEnv({ PQGATE_KEYS: JSON.stringify([{ seed: SECRET_SEED, key_id: "00".repeat(8) }]) }),
    fromEnv({ PQGATE_KEYS: JSON.stringify([SECRET_SEED, SECRET_SEED]) }),
    fromEnv({ PQGATE_KEYS: `["${SECRET_SEED}", ${SECRET_SEED}]` }),
    fromEnv({ PQGATE_KEYS: `{"seed": ${SECRET_SEED}}` }),
    // A route's gatewayAuth: not allowed (a newline), and in broken JSON, file and environment.
    fromFile({ routes: [route({ gatewayAuth: SECRET_AUTH + "\n" })] }),
    fromEnv({ PQGATE_ROUTES: JSON.stringify([route({ gatewayAuth: SECRET_AUTH + "\n" })]) }),
    fromEnv({ PQGATE_ROUTES: `[{"gatewayAuth": ${SECRET_AUTH}}]` }),
    configErrorOf(() => parseConfigText(`{"routes": [{"gatewayAuth": ${SECRET_AUTH}}]}`, "c.json")),
    configErrorOf(() => parseConfigText(`{"routes": [{"gatewayAuth": "${SECRET_AUTH}`, "c.json")),
    // createGateway with a bad key next to a good one.
    configErrorOf(() =>
      createGateway({ keys: [generateStaticKey(seed), { ...generateStaticKey(seed) }] })
    ),
  ];
  assert.ok(errors.some((e) => e.path.startsWith("routes[0].gatewayAuth")));
  for (const e of errors) {
    for (const s of secrets) assert.ok(!e.message.includes(s), e.message);
    for (const s of secrets) assert.ok(!e.path.includes(s), e.path);
  }
});

Deno.test("config: unknown settings are refused in a file (as before); the environment reads only its variables", () => {
  const top = fromFile({ channelpath: "/x" });
  assert.equal(top.path, "channelpath");
  assert.match(top.message, /^pqgate\.json: channelpath is not a known setting \(known: port,/);
  assert.equal(fromFile({ "a b": 1 }).path, '["a b"]');
  assert.equal(fromFile({ ["__proto__"]: 1 }).path, "__proto__");
  assert.equal(fromFile({ crypto: "noble" }).path, "crypto"); // environment only
  assert.equal(fromFile({ routes: [route({ timeout: 5 })] }).path, "routes[0].timeout");
  // Other variables (a Worker's bindings, a process environment) are not settings.
  const env = { PQGATE_KEYS: KEYS, PATH: "/bin", PQGATE_SESSION: "binding" } as GatewayEnv;
  assert.equal(gatewayOptionsFromEnv(env).keys.length, 1);
});

Deno.test("config: a file and the environment give the same gateway options", () => {
  const routes = [route({ gatewayAuth: SECRET_AUTH, timeoutMs: 5000 })];
  const file = parseConfigFile({
    routes,
    allowAnonymous: true,
    limits: { maxStreams: 7 },
    originTimeoutMs: 5000,
    originBodyIdleTimeoutMs: 0,
    allowedOrigins: ["https://app.example"],
  }, "pqgate.json");
  const env = gatewayOptionsFromEnv({
    PQGATE_KEYS: KEYS,
    PQGATE_ROUTES: JSON.stringify(routes),
    PQGATE_ALLOW_ANONYMOUS: "true",
    PQGATE_LIMITS: '{"maxStreams":7}',
    PQGATE_ORIGIN_TIMEOUT_MS: "5000",
    PQGATE_ORIGIN_BODY_IDLE_TIMEOUT_MS: "0",
    PQGATE_ALLOWED_ORIGINS: '["https://app.example"]',
  });
  for (
    const k of [
      "routes",
      "allowAnonymous",
      "limits",
      "originTimeoutMs",
      "originBodyIdleTimeoutMs",
      "allowedOrigins",
    ] as const
  ) {
    assert.deepEqual(file.gateway[k], env[k], k);
  }
});

Deno.test("config: one ConfigError class, under every name and from every entry", async () => {
  const entries = await Promise.all([
    import("../hono.ts"),
    import("../cloudflare.ts"),
    import("../deno.ts"),
    import("./config.ts"),
  ]);
  for (const m of entries) assert.equal(m.ConfigError, ConfigError);
  // The Worker's bindings and the Deploy entry throw it too, naming the variable.
  const { serviceBindings } = await import("../transport/cloudflare/worker-env.ts");
  const routes = [route({ origin: "service:API" })];
  const w = configErrorOf(() => serviceBindings(routes, {} as never));
  assert.equal(w.path, "PQGATE_ROUTES[0].origin");
  assert.match(w.message, /no service binding API/);
  const { gatewayFromEnv } = await import("../transport/deno/deploy.ts");
  const d = configErrorOf(() =>
    gatewayFromEnv({ PQGATE_KEYS: KEYS, PQGATE_ROUTES: JSON.stringify(routes), PQGATE_LOG: "off" })
  );
  assert.equal(d.path, "PQGATE_ROUTES[0].origin");
  assert.match(d.message, /^PQGATE_ROUTES\[0\]\.origin is service:API, but the environment/);
});

Deno.test("config: the variables and file settings are the table's", () => {
  const envOf = Object.values(GATEWAY_SETTINGS).flatMap((s) => s.env ? [s.env] : []);
  assert.deepEqual(
    [...GATEWAY_ENV_VARS].sort(),
    [
      "PQGATE_KEYS",
      "PQGATE_LOG",
      // Client authentication: several variables for one setting (auth-config.ts).
      "PQGATE_AUTH",
      "PQGATE_USERS",
      "PQGATE_PSKS",
      "PQGATE_TOKEN_SECRET",
      ...envOf,
    ].sort(),
  );
  for (const [name, s] of Object.entries(GATEWAY_SETTINGS)) {
    assert.equal((CONFIG_FILE_SETTINGS as readonly string[]).includes(name), s.file, name);
  }
});

Deno.test("config: log and metrics settings in a file, PQGATE_LOG levels", () => {
  const c = parseConfigFile({
    routes: [],
    logLevel: "warn",
    logFormat: "text",
    logRequestTargets: true,
    logClientAddresses: false,
    metricsListen: "127.0.0.1:9464",
  }, "pqgate.json");
  assert.deepEqual(c.observe, {
    logLevel: "warn",
    logFormat: "text",
    logRequestTargets: true,
    logClientAddresses: false,
    logAuthSubjects: undefined,
    metricsListen: "127.0.0.1:9464",
  });
  assert.equal(
    fromFile({ logLevel: "loud" }).message,
    'pqgate.json: logLevel must be one of debug, info, warn, error, off, got "loud"',
  );
  assert.equal(
    fromFile({ logFormat: "xml" }).message,
    'pqgate.json: logFormat must be "json" or "text", got "xml"',
  );
  assert.match(
    fromFile({ metricsListen: "9464:x" }).message,
    /^pqgate.json: metricsListen must be host:port/,
  );
  assert.match(fromFile({ metricsListen: "h:70000" }).message, /metricsListen must be host:port/);
  assert.match(
    fromFile({ logRequestTargets: "yes" }).message,
    /logRequestTargets must be true or false/,
  );
  assert.equal(parseLogLevel(undefined), "info");
  assert.equal(parseLogLevel(" debug "), "debug");
  assert.equal(parseLogLevel("off"), "off");
  assert.equal(gatewayOptionsFromEnv({ PQGATE_KEYS: KEYS, PQGATE_LOG: "off" }).logOff, true);
  assert.equal(gatewayOptionsFromEnv({ PQGATE_KEYS: KEYS, PQGATE_LOG: "warn" }).logOff, false);
  assert.match(fromEnv({ PQGATE_LOG: "verbose" }).message, /^PQGATE_LOG must be one of debug/);
});
