/**
 * The Worker's configuration: env parsing (secrets and vars, src/gateway/config.ts), errors
 * naming the variable, bindings (src/transport/cloudflare/worker-env.ts), createWorker options.
 */
import assert from "node:assert/strict";
import { toBase64Url, toHex } from "../../src/protocol/bytes.ts";
import { generateStaticKey, pinFor } from "../../src/protocol/static-keys.ts";
import {
  parseAllowedOrigins,
  parseBool,
  parseCrypto,
  parseKeys,
  parseLimits,
  parseMs,
  parseRoutes,
} from "../../src/gateway/config.ts";
import { serviceBindings, type WorkerEnv } from "../../src/transport/cloudflare/worker-env.ts";
import { createWorker } from "../../src/cloudflare.ts";
import { gatewayFor } from "../../src/transport/cloudflare/worker.ts";

const seed = new Uint8Array(32).map((_, i) => i);
const key = generateStaticKey(seed);

Deno.test("cf config: PQGATE_KEYS accepts base64url, hex, key-file objects, one or many", () => {
  const forms = [
    JSON.stringify([toBase64Url(seed)]),
    JSON.stringify([toHex(seed)]),
    toBase64Url(seed),
    JSON.stringify(toBase64Url(seed)),
    JSON.stringify({
      version: 1,
      kem: "X-Wing",
      seed: toBase64Url(seed),
      key_id: toHex(key.keyId),
      pin: pinFor(key.publicKey),
      created: "x",
    }),
  ];
  for (const f of forms) {
    const keys = parseKeys(f);
    assert.equal(keys.length, 1, f);
    assert.deepEqual(keys[0].publicKey, key.publicKey);
    assert.deepEqual(keys[0].keyId, key.keyId);
  }
  const two = parseKeys(JSON.stringify([toBase64Url(seed), toHex(new Uint8Array(32).fill(9))]));
  assert.equal(two.length, 2);
});

Deno.test("cf config: bad PQGATE_KEYS values fail with the variable's name and no secret", () => {
  const secret = toBase64Url(seed);
  const cases: [string | undefined, RegExp][] = [
    [undefined, /PQGATE_KEYS is not set/],
    ["  ", /PQGATE_KEYS is not set/],
    ["[", /PQGATE_KEYS is not valid JSON/],
    ["[]", /at least one key/],
    [JSON.stringify(["not a seed!"]), /PQGATE_KEYS\[0\]: seed is neither/],
    [JSON.stringify([toBase64Url(new Uint8Array(31))]), /PQGATE_KEYS\[0\]: seed must be 32 bytes/],
    [
      JSON.stringify([{ seed: secret, key_id: "00".repeat(8) }]),
      /PQGATE_KEYS\[0\]\.key_id does not match/,
    ],
    [
      JSON.stringify([{ seed: secret, pin: "sha256:AAAA" }]),
      /PQGATE_KEYS\[0\]\.pin does not match/,
    ],
    [JSON.stringify([{ seed: secret, kem: "ML-KEM" }]), /PQGATE_KEYS\[0\]\.kem/],
    [JSON.stringify([secret, toHex(seed)]), /PQGATE_KEYS\[1\]: key [0-9a-f]{16} is listed twice/],
    [JSON.stringify([{ seed: 5 }]), /PQGATE_KEYS\[0\]: seed must be a string/],
  ];
  for (const [raw, re] of cases) {
    assert.throws(() => parseKeys(raw), (e: Error) => {
      assert.match(e.message, re);
      assert.equal(e.message.includes(secret), false);
      return true;
    });
  }
});

Deno.test("cf config: routes, service bindings, flags, limits", () => {
  assert.equal(parseRoutes(undefined), undefined);
  assert.equal(parseRoutes(""), undefined);
  assert.throws(() => parseRoutes("{}"), /PQGATE_ROUTES must be a JSON array/);
  assert.throws(() => parseRoutes("[x"), /PQGATE_ROUTES is not valid JSON/);
  const routes = parseRoutes(JSON.stringify([
    { match: { pathPrefix: "/a" }, origin: "service:BACKEND" },
    { match: { pathPrefix: "/b" }, origin: "https://example.com" },
  ]))!;
  const calls: string[] = [];
  const env = {
    PQGATE_SESSION: {} as WorkerEnv["PQGATE_SESSION"],
    BACKEND: { fetch: (r: Request) => (calls.push(r.url), Promise.resolve(new Response("ok"))) },
  } as unknown as WorkerEnv;
  const services = serviceBindings(routes, env);
  assert.deepEqual(Object.keys(services), ["BACKEND"]);
  assert.throws(
    () => serviceBindings(routes, { PQGATE_SESSION: env.PQGATE_SESSION } as WorkerEnv),
    /no service binding BACKEND/,
  );
  assert.equal(parseBool("X", undefined), undefined);
  assert.equal(parseBool("X", "true"), true);
  assert.equal(parseBool("X", "0"), false);
  assert.throws(() => parseBool("PQGATE_ALLOW_ANONYMOUS", "yes"), /PQGATE_ALLOW_ANONYMOUS must be/);
  assert.deepEqual(parseLimits('{"maxStreams":5}'), { maxStreams: 5 });
  assert.throws(() => parseLimits("[1]"), /PQGATE_LIMITS must be a JSON object/);
  assert.equal(parseMs("X", "250"), 250);
  assert.equal(parseCrypto(undefined), undefined);
  assert.equal(parseCrypto("noble"), "noble");
  assert.throws(() => parseCrypto("fast"), /PQGATE_CRYPTO must be/);
  assert.throws(() => parseMs("PQGATE_ORIGIN_TIMEOUT_MS", "1.5"), /PQGATE_ORIGIN_TIMEOUT_MS/);
  assert.throws(() => parseMs("PQGATE_ORIGIN_TIMEOUT_MS", "0"), /positive integer/);
  assert.equal(parseMs("PQGATE_ORIGIN_BODY_IDLE_TIMEOUT_MS", "0", { allowZero: true }), 0);
  assert.throws(() => parseMs("X", "-1", { allowZero: true }), /non-negative integer/);
});

Deno.test("cf config: PQGATE_ALLOWED_ORIGINS is a JSON array or a comma list", () => {
  assert.equal(parseAllowedOrigins(undefined), undefined);
  assert.equal(parseAllowedOrigins(" "), undefined);
  assert.deepEqual(parseAllowedOrigins('["https://a.example","http://localhost:8787"]'), [
    "https://a.example",
    "http://localhost:8787",
  ]);
  assert.deepEqual(parseAllowedOrigins("[]"), []);
  assert.deepEqual(parseAllowedOrigins("https://a.example, https://b.example"), [
    "https://a.example",
    "https://b.example",
  ]);
  assert.deepEqual(parseAllowedOrigins("*"), ["*"]);
  assert.throws(() => parseAllowedOrigins("[x"), /PQGATE_ALLOWED_ORIGINS is not valid JSON/);
  assert.throws(
    () => parseAllowedOrigins("[1]"),
    /PQGATE_ALLOWED_ORIGINS must be a JSON array of origin strings/,
  );
  assert.throws(
    () => parseAllowedOrigins("https://a.example,,https://b.example"),
    /PQGATE_ALLOWED_ORIGINS has an empty entry/,
  );
});

Deno.test("cf worker: the Worker's fetch refuses a disallowed Origin with 403 before any Durable Object", async () => {
  const { default: worker } = await import("../../worker/index.ts");
  createWorker(); // the default options (another test may have registered its own)
  let objectCalls = 0;
  const PQGATE_SESSION = {
    newUniqueId: () => ({ toString: () => "id" }),
    idFromName: () => ({ toString: () => "id" }),
    get: () => ({
      fetch: () => {
        objectCalls++;
        return Promise.resolve(new Response("to the object (test)", { status: 200 }));
      },
    }),
  } as unknown as WorkerEnv["PQGATE_SESSION"];
  const base = {
    PQGATE_SESSION,
    PQGATE_KEYS: JSON.stringify([toBase64Url(seed)]),
    PQGATE_LOG: "off",
    PQGATE_CRYPTO: "noble",
  };
  const GW = "https://gw.example.workers.dev";
  const upgrade = (env: Record<string, unknown>, origin?: string) =>
    worker.fetch(
      new Request(`${GW}/pqgate`, {
        headers: { upgrade: "websocket", ...(origin ? { origin } : {}) },
      }),
      env as unknown as WorkerEnv,
      {},
    );
  const listed = { ...base, PQGATE_ALLOWED_ORIGINS: "https://app.example" };
  const evil = await upgrade(listed, "https://evil.example");
  assert.equal(evil.status, 403);
  assert.equal((await evil.json()).error, "origin_not_allowed");
  assert.equal(evil.headers.get("x-content-type-options"), "nosniff");
  assert.equal(objectCalls, 0, "a Durable Object was reached");
  assert.equal((await upgrade(listed, "https://app.example")).status, 200);
  assert.equal((await upgrade(listed)).status, 200); // no Origin: a non-browser client
  assert.equal(objectCalls, 2);
  // Unset: same origin only.
  assert.equal((await upgrade(base, GW)).status, 200);
  assert.equal((await upgrade(base, "https://evil.example")).status, 403);
  assert.equal(objectCalls, 3);
  const kc = await worker.fetch(
    new Request(`${GW}/.well-known/pqgate`, { headers: { origin: "https://app.example" } }),
    listed as unknown as WorkerEnv,
    {},
  );
  assert.equal(kc.headers.get("access-control-allow-origin"), "https://app.example");
  await kc.body?.cancel();
});

Deno.test("cf worker: createWorker options over env; 503 naming the variable", async () => {
  const PQGATE_SESSION = {
    newUniqueId: () => ({ toString: () => "id" }),
    idFromName: () => ({ toString: () => "id" }),
    get: () => ({ fetch: () => Promise.resolve(new Response("to the object (test)")) }),
  } as unknown as WorkerEnv["PQGATE_SESSION"];
  const GW = "https://gw.example.workers.dev";
  const upgrade = (
    worker: ReturnType<typeof createWorker>,
    env: Record<string, unknown>,
    origin: string,
  ) =>
    worker.fetch(
      new Request(`${GW}/pqgate`, { headers: { upgrade: "websocket", origin } }),
      { PQGATE_SESSION, PQGATE_LOG: "off", PQGATE_CRYPTO: "noble", ...env } as unknown as WorkerEnv,
      {},
    );
  const keys = JSON.stringify([toBase64Url(seed)]);
  try {
    // The options apply to the isolate (the Durable Object builds the same gateway).
    const worker = createWorker({ allowedOrigins: ["https://app.example"], log: () => {} });
    assert.equal((await upgrade(worker, { PQGATE_KEYS: keys }, "https://app.example")).status, 200);
    const refused = await upgrade(worker, {
      PQGATE_KEYS: keys,
      PQGATE_ALLOWED_ORIGINS: "https://app.example",
    }, GW);
    assert.equal(refused.status, 403, "options.allowedOrigins replaces PQGATE_ALLOWED_ORIGINS");
    await refused.body?.cancel();
    const missing = await upgrade(worker, {}, "https://app.example");
    assert.equal(missing.status, 503);
    assert.match((await missing.json()).message, /PQGATE_KEYS/);
    const fn = createWorker((env) => ({ allowedOrigins: [String(env.APP_ORIGIN)] }));
    assert.equal(
      (await upgrade(
        fn,
        { PQGATE_KEYS: keys, APP_ORIGIN: "https://b.example" },
        "https://b.example",
      )).status,
      200,
    );
    const other = await upgrade(
      fn,
      { PQGATE_KEYS: keys, APP_ORIGIN: "https://b.example" },
      "https://app.example",
    );
    assert.equal(other.status, 403);
    await other.body?.cancel();
  } finally {
    createWorker(); // back to the default options for the other tests of this process
  }
});

Deno.test("cf worker: WebSocket routes get the Workers connector; maxWsMessage over 1 MiB is refused", () => {
  const env = (vars: Record<string, string>) =>
    ({
      PQGATE_KEYS: JSON.stringify([toBase64Url(seed)]),
      PQGATE_LOG: "off",
      PQGATE_CRYPTO: "noble",
      PQGATE_ROUTES: JSON.stringify([{
        match: { authority: "chat.test" },
        origin: "wss://chat.example",
      }]),
      ...vars,
    }) as unknown as WorkerEnv;
  createWorker();
  // A wss: route builds (the connector is there) and offers max_ws_message 1 MiB.
  assert.equal(gatewayFor(env({})).sessionConfig.limits.maxWsMessage, 1024 * 1024);
  assert.throws(
    () => gatewayFor(env({ PQGATE_LIMITS: JSON.stringify({ maxWsMessage: 1024 * 1024 + 1 }) })),
    /PQGATE_LIMITS\.maxWsMessage is 1048577, but Workers refuses WebSocket messages over/,
  );
});
