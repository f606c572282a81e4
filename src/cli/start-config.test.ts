import assert from "node:assert/strict";
import { ConfigError } from "../gateway/config.ts";
import { UsageError } from "./argv.ts";
import { DEFAULT_KEY_FILE } from "./key-file.ts";
import {
  parseStartFlags,
  resolveFrom,
  resolveStartSettings,
  rewordGatewayError,
  type StartFlags,
} from "./start-config.ts";

const none: StartFlags = {
  config: null,
  port: null,
  hostname: null,
  keyFile: null,
  generateKey: null,
  allowUnignoredKey: false,
  verbose: false,
  drainTimeoutMs: null,
};

Deno.test("start settings: no set-up means demo origin, default key file, port 8787", () => {
  const s = resolveStartSettings(none, null);
  assert.equal(s.port, 8787);
  assert.equal(s.hostname, "127.0.0.1");
  assert.deepEqual(s.keyFiles, [DEFAULT_KEY_FILE]);
  assert.equal(s.createMissingKey, true);
  assert.equal(s.routes, undefined);
  assert.equal(s.allowAnonymous, false);
});

Deno.test("start flags: --port, --key-file, --config, --generate-key, errors", () => {
  const f = parseStartFlags(["--port", "0", "--key-file=k.json", "--config", "c.json", "-v"]);
  assert.ok(f !== "help");
  assert.equal(f.port, 0);
  assert.equal(f.keyFile, "k.json");
  assert.equal(f.config, "c.json");
  assert.equal(f.verbose, true);
  assert.equal(parseStartFlags(["--help"]), "help");
  assert.throws(() => parseStartFlags(["--port", "99999"]), /--port must be a port number/);
  assert.throws(() => parseStartFlags(["--port"]), /needs a value/);
  assert.throws(() => parseStartFlags(["serve"]), /unknown argument serve/);
});

Deno.test("start config: file values, relative paths, flags override", () => {
  const text = JSON.stringify({
    port: 9000,
    hostname: "0.0.0.0",
    keys: ["keys/new.json", "/abs/old.json"],
    routes: [{ match: { authority: "api.example.com" }, origin: "https://10.0.0.5:8443" }],
    allowAnonymous: true,
    suites: ["chacha20-poly1305", 1],
    limits: { maxStreams: 10, maxControlFramesPerSecond: 50 },
    originTimeoutMs: 5000,
    originBodyIdleTimeoutMs: 0,
    maxChannelsPerAddress: 0,
    maxHandshakesPerAddressPerMinute: 1200,
  });
  const s = resolveStartSettings({ ...none, config: "/etc/pqgate/config.json", port: 9100 }, text);
  assert.equal(s.port, 9100);
  assert.equal(s.hostname, "0.0.0.0");
  assert.deepEqual(s.keyFiles, ["/etc/pqgate/keys/new.json", "/abs/old.json"]);
  assert.equal(s.createMissingKey, false);
  assert.deepEqual(s.suites, [2, 1]);
  assert.deepEqual(s.limits, { maxStreams: 10, maxControlFramesPerSecond: 50 });
  assert.equal(s.originBodyIdleTimeoutMs, 0);
  assert.equal(s.maxChannelsPerAddress, 0);
  assert.equal(s.maxHandshakesPerAddressPerMinute, 1200);
  assert.equal(s.allowAnonymous, true);
  assert.equal(s.routes?.length, 1);
  const k = resolveStartSettings({ ...none, config: "c.json", keyFile: "mine.json" }, text);
  assert.deepEqual(k.keyFiles, ["mine.json"]);
  assert.equal(k.createMissingKey, true);
});

Deno.test("start config: clear errors naming the file and the setting", () => {
  const bad: [unknown, RegExp][] = [
    ["{", /c\.json: not valid JSON/],
    [[], /must be a JSON object/],
    [{ routes: [], prot: 1 }, /c\.json: prot is not a known setting/],
    [{}, /routes is required/],
    [{ routes: {} }, /routes must be an array/],
    [{ routes: [], port: "x" }, /port must be a port number/],
    [{ routes: [], keyFile: "a", keys: ["b"] }, /keyFile and keys exclude each other/],
    [{ routes: [], keys: [] }, /keys must be a non-empty array/],
    [{ routes: [], keys: ["a", "a"] }, /lists a key file twice/],
    [{ routes: [], allowAnonymous: "yes" }, /allowAnonymous must be true or false/],
    [{ routes: [], suites: ["rot13"] }, /unknown suite "rot13"/],
    [{ routes: [], limits: 5 }, /limits must be an object/],
    [
      { routes: [], maxChannelsPerAddress: -1 },
      /c\.json: maxChannelsPerAddress must be an integer from 0 \(no limit\)/,
    ],
    [
      { routes: [], maxHandshakesPerAddressPerMinute: "600" },
      /maxHandshakesPerAddressPerMinute must be an integer/,
    ],
  ];
  for (const [cfg, re] of bad) {
    const text = typeof cfg === "string" ? cfg : JSON.stringify(cfg);
    assert.throws(
      () => resolveStartSettings({ ...none, config: "c.json" }, text),
      (e) => e instanceof UsageError && re.test(e.message),
      text,
    );
  }
});

Deno.test("start config: helpers", () => {
  assert.equal(resolveFrom("a/b/c.json", "k.json"), "a/b/k.json");
  assert.equal(resolveFrom("c.json", "k.json"), "k.json");
  assert.equal(resolveFrom("a/c.json", "/k.json"), "/k.json");
  assert.equal(
    rewordGatewayError("createGateway: options.limits.maxStreams must be an integer", "c.json"),
    "c.json: limits.maxStreams must be an integer",
  );
  assert.equal(rewordGatewayError("createGateway: options.keys bad", null), "options.keys bad");
});

Deno.test("start config: allowedOrigins (demo: same origin; config file: none unless listed)", () => {
  assert.equal(resolveStartSettings(none, null).allowedOrigins, undefined); // demo: its own page
  const cfg = (o: Record<string, unknown>) =>
    resolveStartSettings({ ...none, config: "c.json" }, JSON.stringify({ routes: [], ...o }));
  assert.deepEqual(cfg({}).allowedOrigins, []);
  assert.deepEqual(cfg({ allowedOrigins: ["https://app.example"] }).allowedOrigins, [
    "https://app.example",
  ]);
  assert.throws(
    () => cfg({ allowedOrigins: "https://app.example" }),
    (e) =>
      e instanceof UsageError &&
      /^c\.json: allowedOrigins must be an array of origins/.test(e.message),
  );
  // Entries: checked with the file (createGateway's check, under the file's names).
  assert.throws(
    () => cfg({ allowedOrigins: ["https://app.example/"] }),
    (e) =>
      e instanceof UsageError &&
      /^c\.json: allowedOrigins\[0\] must be exactly scheme:\/\/host\[:port\]/.test(e.message) &&
      e.cause instanceof ConfigError && e.cause.path === "allowedOrigins",
  );
});

Deno.test("start config: a bad file is a UsageError whose cause is the ConfigError naming the setting", () => {
  const cases: [Record<string, unknown>, string, RegExp][] = [
    [{ routes: [], prot: 1 }, "prot", /^c\.json: prot is not a known setting \(known: port, /],
    [{}, "routes", /^c\.json: routes is required/],
    [
      { routes: [{ match: { pathPrefix: "/" }, origin: "https://a.example", timeout: 5 }] },
      "routes[0].timeout",
      /^c\.json: routes\[0\]\.timeout: unknown field$/,
    ],
    [
      { routes: [], limits: { maxStreams: 0 } },
      "limits.maxStreams",
      /^c\.json: limits\.maxStreams must be an integer from 1 to 4294967295, got 0$/,
    ],
    [{ routes: [], limits: { maxStream: 5 } }, "limits.maxStream", /is not a known limit/],
    [{ routes: [], suites: [] }, "suites", /^c\.json: suites must be a non-empty array/],
    [{ routes: [], suites: [1, 9] }, "suites", /^c\.json: suites contains unknown suite 9/],
    [{ routes: [], suites: ["aes", 1] }, "suites[0]", /^c\.json: suites\[0\]: unknown suite "aes"/],
    [{ routes: [], channelPath: "pq" }, "channelPath", /^c\.json: channelPath must be an absolute/],
    [{ routes: [], originTimeoutMs: 0 }, "originTimeoutMs", /must be a positive integer/],
    [{ routes: [], closeTimeoutMs: 50 }, "closeTimeoutMs", /from 100 to 60000 \(ms\), got 50/],
    [
      { routes: [{ match: { pathPrefix: "/" }, origin: "service:api" }] },
      "routes[0].origin",
      /^c\.json: routes\[0\]\.origin is service:api, but a config file cannot provide services/,
    ],
  ];
  for (const [cfg, path, re] of cases) {
    const text = JSON.stringify(cfg);
    assert.throws(
      () => resolveStartSettings({ ...none, config: "c.json" }, text),
      (e) => {
        assert.ok(e instanceof UsageError, text);
        assert.ok(e.cause instanceof ConfigError, text);
        assert.equal(e.cause.path, path, text);
        assert.equal(e.cause.message, e.message);
        assert.match(e.message, re, text);
        return true;
      },
    );
  }
});

Deno.test("start config: a JSON syntax error gives its position, never the text around it", () => {
  const secret = "s3cr3t-shared-secret-value";
  const text = `{"routes": [{"match": {"pathPrefix": "/"}, "origin": "https://a.example",
  "gatewayAuth": ${secret}}]}`;
  assert.throws(
    () => resolveStartSettings({ ...none, config: "c.json" }, text),
    (e) =>
      e instanceof UsageError && /^c\.json: not valid JSON/.test(e.message) &&
      !e.message.includes("s3cr3t"),
  );
  assert.throws(
    () => resolveStartSettings({ ...none, config: "c.json" }, '{"routes": [],\n  "port" 1}'),
    /: c\.json: not valid JSON \(line 2 column 10\)$/,
  );
});

Deno.test("start flags: log and metrics flags over the config file; defaults info/json, nothing private", () => {
  const d = resolveStartSettings(none, null);
  assert.deepEqual(d.observe, {
    logLevel: "info",
    logFormat: "json",
    logRequestTargets: false,
    logClientAddresses: false,
    logAuthSubjects: false,
    metricsListen: undefined,
  });
  const v = parseStartFlags(["-v"]);
  assert.ok(v !== "help");
  assert.equal(resolveStartSettings(v, null).observe.logLevel, "debug");
  const f = parseStartFlags([
    "--config",
    "c.json",
    "--log-level",
    "error",
    "--log-format=text",
    "--log-request-targets",
    "--log-auth-subjects",
    "--metrics-listen",
    "0.0.0.0:9100",
  ]);
  assert.ok(f !== "help");
  const s = resolveStartSettings(
    f,
    JSON.stringify({
      routes: [],
      logLevel: "warn",
      logClientAddresses: true,
      metricsListen: "9464",
    }),
  );
  assert.deepEqual(s.observe, {
    logLevel: "error",
    logFormat: "text",
    logRequestTargets: true,
    logClientAddresses: true,
    logAuthSubjects: true,
    metricsListen: "0.0.0.0:9100",
  });
  assert.throws(() => parseStartFlags(["--log-level", "loud"]), UsageError);
  assert.throws(() => parseStartFlags(["--log-format", "xml"]), UsageError);
  assert.throws(() => parseStartFlags(["--metrics-listen", "nope"]), UsageError);
});

Deno.test("start settings: --drain-timeout takes 10s, 500ms or seconds; over the config file's", () => {
  const f = (v: string) => (parseStartFlags(["--drain-timeout", v]) as StartFlags).drainTimeoutMs;
  assert.equal(f("10s"), 10_000);
  assert.equal(f("500ms"), 500);
  assert.equal(f("2.5"), 2_500);
  assert.equal(f("0"), 0);
  for (const bad of ["-1", "10m", "601s", "", "s"]) {
    assert.throws(() => f(bad), /--drain-timeout: must be a duration/);
  }
  const text = JSON.stringify({ routes: [], drainTimeoutMs: 3000 });
  assert.equal(resolveStartSettings({ ...none, config: "c.json" }, text).drainTimeoutMs, 3000);
  assert.equal(
    resolveStartSettings({ ...none, config: "c.json", drainTimeoutMs: 0 }, text).drainTimeoutMs,
    0,
  );
  assert.throws(
    () => resolveStartSettings({ ...none, config: "c.json" }, '{"routes":[],"drainTimeoutMs":-1}'),
    /c\.json: drainTimeoutMs must be an integer from 0 to 600000/,
  );
});

Deno.test("start settings: --users-file / --psk-file enable their methods over the config file's auth", () => {
  const flags = (...a: string[]) => parseStartFlags(a) as StartFlags;
  // Demo mode: the flags alone.
  assert.deepEqual(resolveStartSettings(flags("--users-file", "u.txt"), null).auth, {
    methods: ["password"],
    usersFile: "u.txt",
    pskFile: undefined,
    token: undefined,
    limits: undefined,
  });
  assert.equal(resolveStartSettings(flags(), null).auth, undefined);
  // Config paths are relative to the config file; flags win and add their method.
  const cfg = JSON.stringify({
    routes: [],
    auth: { usersFile: "users.txt", token: { secretFile: "s.txt" }, limits: { maxInFlight: 3 } },
  });
  const s = resolveStartSettings(
    { ...flags("--psk-file", "/etc/p.txt"), config: "conf/c.json" },
    cfg,
  );
  assert.deepEqual(s.auth, {
    methods: ["password", "token", "psk"],
    usersFile: "conf/users.txt",
    pskFile: "/etc/p.txt",
    token: { secretFile: "conf/s.txt" },
    limits: { maxInFlight: 3 },
  });
  const o = resolveStartSettings(
    { ...flags("--users-file", "other.txt"), config: "conf/c.json" },
    cfg,
  );
  assert.equal(o.auth?.usersFile, "other.txt");
});
