import assert from "node:assert/strict";
import { Hono } from "hono";
import { fromBase64Url, toHex } from "../protocol/bytes.ts";
import { generateStaticKey, pinFor } from "../protocol/static-keys.ts";
import { createGateway, UPGRADE_ENV_KEY, type Upgrader } from "./create-gateway.ts";
import { ConfigError, DEFAULT_LIMITS } from "./options.ts";

const key = generateStaticKey(new Uint8Array(32).fill(7));
const key2 = generateStaticKey(new Uint8Array(32).fill(8));

Deno.test("createGateway: validates options and names the bad one", () => {
  const cases: [unknown, RegExp][] = [
    [{}, /options\.keys must be one StaticKey or a non-empty array/],
    [{ keys: [] }, /options\.keys must be/],
    [
      { keys: [{ ...key, keyId: new Uint8Array(3) }] },
      /options\.keys\[0\]\.keyId must be a 8-byte/,
    ],
    [{ keys: [key, { ...key2, publicKey: new Uint8Array(5) }] }, /options\.keys\[1\]\.publicKey/],
    [{ keys: [key, { ...key }] }, /options\.keys\[1\]\.keyId .* is used by two keys/],
    [{ keys: key, suites: [] }, /options\.suites must be a non-empty array/],
    [{ keys: key, suites: [9] }, /options\.suites contains unknown suite 9/],
    [{ keys: key, suites: [1, 1] }, /options\.suites lists suite 1 twice/],
    [
      { keys: key, limits: { maxStreams: 0 } },
      /options\.limits\.maxStreams must be an integer from 1/,
    ],
    [{ keys: key, limits: { maxStream: 5 } }, /options\.limits\.maxStream is not a known limit/],
    // Clients fail sessions older than 24 h (PROTOCOL.md §5.4): a longer lifetime is refused.
    [
      { keys: key, limits: { sessionLifetimeMs: 24 * 3600 * 1000 + 1 } },
      /options\.limits\.sessionLifetimeMs must be an integer from 1 to 86400000/,
    ],
    [
      { keys: key, limits: { maxHeaderBytes: 65536 } },
      /options\.limits\.maxHeaderBytes must be an integer from 1 to 16376/,
    ],
    [
      { keys: key, limits: { maxControlFramesPerSecond: 0 } },
      /options\.limits\.maxControlFramesPerSecond must be an integer from 1/,
    ],
    [
      { keys: key, limits: { controlFrameBurst: 2.5 } },
      /options\.limits\.controlFrameBurst must be an integer from 1 to 4294967295, got 2\.5/,
    ],
    [
      { keys: key, originBodyIdleTimeoutMs: -1 },
      /options\.originBodyIdleTimeoutMs must be an integer number of milliseconds from 0/,
    ],
    [{ keys: key, channelPath: "pq" }, /options\.channelPath must be an absolute path/],
    [{ keys: key, channelPath: "/healthz" }, /collides/],
    [
      { keys: key, routes: [{ match: {}, origin: "https://x" }] },
      /options\.routes\[0\]\.match: needs authority/,
    ],
    [
      { keys: key, routes: [{ match: { authority: "a" }, origin: "service:nope" }] },
      /names service:nope, which options\.services does not provide/,
    ],
    [{ keys: key, allowAnonymous: "yes" }, /options\.allowAnonymous must be a boolean/],
    [{ keys: key, originTimeoutMs: -1 }, /options\.originTimeoutMs must be a positive integer/],
    [{ keys: key, fetch: 5 }, /options\.fetch must be a function/],
    [
      { keys: key, services: { a: 5 } },
      /options\.services\.a must be a function or an object with fetch/,
    ],
    [{ keys: key, colour: "red" }, /options\.colour is not a known option/],
  ];
  for (const [opts, re] of cases) {
    assert.throws(
      () => createGateway(opts as Parameters<typeof createGateway>[0]),
      (e) => e instanceof ConfigError && re.test(e.message),
      JSON.stringify(opts, (_, v) => (v instanceof Uint8Array ? `bytes(${v.length})` : v)),
    );
  }
});

Deno.test("createGateway: a ConfigError whose path is the option, as the message names it", () => {
  const cases: [Record<string, unknown>, string, string][] = [
    [{ keys: [key, { ...key }] }, "options.keys[1].keyId", " is used by two keys"],
    [{ keys: key, limits: { maxStreams: 0 } }, "options.limits.maxStreams", "must be an integer"],
    [
      { keys: key, routes: [{ match: { pathPrefix: "/" }, origin: "ftp://x.example" }] },
      "options.routes[0].origin",
      ": scheme must be http or https",
    ],
    [{ keys: key, routes: {} }, "options.routes", ": must be an array"],
    [{ keys: key, allowedOrigins: ["https://a.example/"] }, "options.allowedOrigins", "[0] must"],
    [{ keys: key, services: { a: 5 } }, "options.services.a", "must be a function"],
    [{ keys: key, colour: "red" }, "options.colour", "is not a known option"],
  ];
  for (const [opts, path, rest] of cases) {
    assert.throws(
      () => createGateway(opts as unknown as Parameters<typeof createGateway>[0]),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError && e instanceof TypeError, String(e));
        assert.equal(e.name, "ConfigError");
        assert.equal(e.path, path);
        assert.ok(e.message.startsWith(`createGateway: ${path}`), e.message);
        assert.ok(e.message.includes(rest), e.message);
        return true;
      },
    );
  }
});

Deno.test("createGateway: defaults and the exact key configuration shape", async () => {
  const gw = createGateway({ keys: [key, key2] });
  assert.equal(gw.channelPath, "/pqgate");
  // The demo routes have a WebSocket route (wss://demo/ws): max_ws_message 1 MiB is offered.
  assert.deepEqual(gw.sessionConfig.limits, { ...DEFAULT_LIMITS, maxWsMessage: 1024 * 1024 });
  assert.equal(gw.sessionConfig.allowAnonymous, false);
  const res = await gw.app.request("/.well-known/pqgate");
  assert.equal(res.status, 200);
  // Default policy: same origin only, so no CORS grant for a request without Origin.
  assert.equal(res.headers.get("access-control-allow-origin"), null);
  const j = await res.json();
  assert.deepEqual(Object.keys(j).sort(), ["keys", "suites", "version", "versions"]);
  assert.equal(j.version, 1);
  assert.deepEqual(j.suites, [1, 2]);
  assert.equal(j.keys.length, 2);
  for (const [i, k] of [key, key2].entries()) {
    const e = j.keys[i];
    assert.deepEqual(Object.keys(e).sort(), ["kem", "key_id", "pin", "public_key"]);
    assert.equal(e.key_id, toHex(k.keyId));
    assert.equal(e.kem, "X-Wing");
    assert.deepEqual(fromBase64Url(e.public_key), k.publicKey);
    assert.equal(e.pin, pinFor(k.publicKey));
    assert.match(e.pin, /^sha256:[A-Za-z0-9_-]{43}$/);
  }
  const h = await gw.app.request("/healthz");
  assert.deepEqual(await h.json(), { status: "ok" });
});

Deno.test("createGateway: channel endpoint answers 426 without upgrade, 501 without transport", async () => {
  const gw = createGateway({ keys: key, channelPath: "/tunnel" });
  const plain = await gw.app.request("/tunnel");
  assert.equal(plain.status, 426);
  assert.equal(plain.headers.get("upgrade"), "websocket");
  const post = await gw.app.request("/tunnel", {
    method: "POST",
    headers: { upgrade: "websocket" },
  });
  assert.equal(post.status, 426);
  const noTransport = await gw.app.request("/tunnel", { headers: { upgrade: "websocket" } });
  assert.equal(noTransport.status, 501);
  assert.equal((await gw.app.request("/pqgate")).status, 404);
});

Deno.test("createGateway: upgrade hook from options or env; mountable under a prefix", async () => {
  const seen: string[] = [];
  const upgrade: Upgrader = ({ request, createSession }) => {
    seen.push(new URL(request.url).pathname);
    assert.equal(typeof createSession, "function");
    return new Response("upgraded (test)", { status: 200 });
  };
  const gw = createGateway({ keys: key });
  const parent = new Hono();
  parent.get("/", (c) => c.text("parent app"));
  parent.route("/pq", gw.app);
  const env = { [UPGRADE_ENV_KEY]: upgrade };
  const up = await parent.request("/pq/pqgate", { headers: { upgrade: "websocket" } }, env);
  assert.equal(await up.text(), "upgraded (test)");
  assert.deepEqual(seen, ["/pq/pqgate"]);
  assert.equal((await parent.request("/pq/.well-known/pqgate")).status, 200);
  assert.equal((await parent.request("/pq/healthz")).status, 200);
  assert.equal(await (await parent.request("/")).text(), "parent app");

  const gw2 = createGateway({ keys: key, upgrade });
  assert.equal(
    (await gw2.app.request("/pqgate", { headers: { upgrade: "websocket" } })).status,
    200,
  );
});

Deno.test("request handler: unmatched → 403 JSON and no fetch; service: origins dispatch in-process", async () => {
  let networkCalls = 0;
  const gw = createGateway({
    keys: key,
    routes: [
      { match: { authority: "api.test" }, origin: "service:api" },
      { match: { authority: "net.test" }, origin: "http://127.0.0.1:9" },
    ],
    services: {
      api: (req) =>
        Response.json({ path: new URL(req.url).pathname, fwd: req.headers.get("forwarded") }),
    },
    fetch: () => {
      networkCalls++;
      return Promise.reject(new TypeError("connection refused"));
    },
  });
  const channel = {
    sessionId: "00".repeat(16),
    suite: 1 as const,
    keyId: toHex(key.keyId),
    clientAddress: "192.0.2.7",
  };
  const denied = await gw.handler(new Request("https://elsewhere.test/x"), channel);
  assert.equal(denied.status, 403);
  assert.equal(denied.headers.get("pqgate-error"), "forbidden");
  assert.deepEqual(await denied.json(), { error: "forbidden", status: 403 });
  assert.equal(networkCalls, 0);

  const ok = await gw.handler(new Request("https://api.test/v1/things?q=1"), channel);
  assert.deepEqual(await ok.json(), { path: "/v1/things", fwd: "for=192.0.2.7;proto=https" });
  assert.equal(networkCalls, 0);

  const down = await gw.handler(new Request("https://net.test/"), channel);
  assert.equal(down.status, 502);
  assert.equal(networkCalls, 1);
});

Deno.test("request handler: default routes serve the embedded demo origin at https://demo/", async () => {
  const gw = createGateway({ keys: key });
  const channel = {
    sessionId: "11".repeat(16),
    suite: 2 as const,
    keyId: null,
    clientAddress: null,
  };
  const res = await gw.handler(new Request("https://demo/api/hello"), channel);
  assert.equal(res.status, 200);
  const j = await res.json();
  assert.match(j.message, /demo origin/);
  assert.equal((await gw.handler(new Request("https://other/api/hello"), channel)).status, 403);
});

Deno.test("createGateway: crypto backends are chosen lazily; noble until then; cryptoReport and /healthz", async () => {
  assert.throws(
    () => createGateway({ keys: key, crypto: "fast" as never }),
    /options\.crypto must be "auto" or "noble"/,
  );
  const gw = createGateway({ keys: key });
  // Nothing selected yet: sessions get the core defaults, /healthz has no crypto field.
  assert.equal(gw.sessionConfig.crypto.kem(), undefined);
  assert.equal(gw.sessionConfig.crypto.aead(), undefined);
  assert.deepEqual(await (await gw.app.request("/healthz")).json(), { status: "ok" });
  const r = await gw.cryptoReport();
  assert.equal(r, await gw.cryptoReport(), "selected once");
  assert.equal(r.mode, "auto");
  assert.match(r.summary, /^ML-KEM: .+, X25519: .+, SHA3: .+, AEAD: .+/);
  assert.ok(gw.sessionConfig.crypto.kem(), "a per-connection KEM once selected");
  assert.equal(typeof gw.sessionConfig.crypto.aead(), "function");
  const h = await (await gw.app.request("/healthz")).json();
  assert.deepEqual(h, { status: "ok", crypto: { mlkem: r.mlkem, x25519: r.x25519, aead: r.aead } });
  assert.doesNotMatch(JSON.stringify(h), /[0-9a-f]{32}/, "no key material");

  const noble = createGateway({ keys: key, crypto: "noble" });
  const nr = await noble.cryptoReport();
  assert.equal(nr.mode, "noble");
  assert.equal(nr.mlkem, "noble");
  // Only noble code; the static key expanded once (the cached X-Wing on noble parts).
  assert.equal(
    noble.sessionConfig.crypto.kem()?.name,
    "X-Wing (ML-KEM noble, X25519 noble, SHA3 noble, cached dk)",
  );
  const aeads = noble.sessionConfig.crypto.aead();
  assert.ok(aeads);
  for (const s of [0x0001, 0x0002] as const) assert.doesNotMatch(aeads(s).name, /node/i);
});

Deno.test("createGateway: allowedOrigins is validated and the error names the option", () => {
  const cases: [unknown, RegExp][] = [
    ["https://app.example", /options\.allowedOrigins must be an array of origins/],
    [[5], /options\.allowedOrigins\[0\] must be an origin string/],
    [[""], /options\.allowedOrigins\[0\] must be an origin string/],
    [["app.example"], /options\.allowedOrigins\[0\] must start with "https:\/\/" or "http:\/\/"/],
    [["ftp://app.example"], /options\.allowedOrigins\[0\] must start with/],
    [
      ["https://App.Example"],
      /options\.allowedOrigins\[0\] must be exactly scheme:\/\/host\[:port\].*https:\/\/app\.example/,
    ],
    [["https://app.example/"], /options\.allowedOrigins\[0\] must be exactly/],
    [["https://app.example/path"], /options\.allowedOrigins\[0\] must be exactly/],
    [["https://app.example:443"], /options\.allowedOrigins\[0\] must be exactly/],
    [["https://u:p@app.example"], /options\.allowedOrigins\[0\] must not contain credentials/],
    [["null"], /options\.allowedOrigins\[0\] must start with/],
    [
      ["https://a.example", "https://a.example"],
      /options\.allowedOrigins\[1\] lists https:\/\/a\.example twice/,
    ],
    [
      ["https://a.example", "*"],
      /options\.allowedOrigins\[1\]: "\*" \(any origin\) must be the only entry/,
    ],
    [
      ["https://" + "a".repeat(300)],
      /options\.allowedOrigins\[0\] must be an origin string of 1 to 300/,
    ],
    [Array.from({ length: 1001 }, (_, i) => `https://h${i}.example`), /at most 1000/],
  ];
  for (const [allowedOrigins, re] of cases) {
    assert.throws(
      () => createGateway({ keys: key, allowedOrigins: allowedOrigins as string[] }),
      (e: unknown) => e instanceof ConfigError && re.test(e.message),
      `${JSON.stringify(allowedOrigins).slice(0, 80)} should fail with ${re}`,
    );
  }
  for (
    const ok of [[], ["*"], ["https://app.example", "http://localhost:8787", "http://[::1]:3000"]]
  ) {
    createGateway({ keys: key, allowedOrigins: ok });
  }
});

Deno.test("createGateway: an upgrade from a page whose Origin is not allowed gets 403 before the upgrade hook", async () => {
  let upgrades = 0;
  const upgrade: Upgrader = () => {
    upgrades++;
    return new Response("upgraded (test)", { status: 200 });
  };
  const ws = (origin?: string) => ({
    headers: { upgrade: "websocket", ...(origin ? { origin } : {}) },
  });
  const GW = "http://gw.test:8787/pqgate";
  // [policy, origin (undefined = none), allowed?]
  const cases: [readonly string[] | undefined, string | undefined, boolean][] = [
    [undefined, undefined, true], // non-browser clients send no Origin
    [undefined, "http://gw.test:8787", true], // the gateway's own page (demo page)
    [undefined, "https://evil.example", false],
    [undefined, "http://gw.test", false], // other port = other origin
    [undefined, "https://gw.test:8787", false], // other scheme = other origin
    [undefined, "null", false], // sandboxed frames, file: pages
    [[], undefined, true],
    [[], "http://gw.test:8787", false], // [] = no browser page at all, own host included
    [["https://app.example"], "https://app.example", true],
    [["https://app.example"], "https://app.example.evil.example", false],
    [["https://app.example"], "https://APP.example", false], // exact match only
    [["https://app.example"], "https://app.example, https://evil.example", false], // two Origin fields
    [["https://app.example"], undefined, true],
    [["*"], "https://evil.example", true],
    [["*"], "null", true],
  ];
  for (const [allowedOrigins, origin, allowed] of cases) {
    const logs: [string, Record<string, unknown> | undefined][] = [];
    const gw = createGateway({
      keys: key,
      upgrade,
      allowedOrigins,
      log: (e, f) => logs.push([e, f]),
    });
    const before = upgrades;
    const res = await gw.app.request(GW, ws(origin));
    const what = `${JSON.stringify(allowedOrigins)} / ${origin}`;
    if (allowed) {
      assert.equal(res.status, 200, what);
      assert.equal(upgrades, before + 1, what);
      continue;
    }
    assert.equal(res.status, 403, what);
    assert.equal(upgrades, before, `${what}: the upgrade hook (and so a session) was reached`);
    assert.equal(res.headers.get("content-type"), "application/json");
    assert.equal(res.headers.get("x-content-type-options"), "nosniff");
    const body = await res.json();
    assert.equal(body.error, "origin_not_allowed", what);
    assert.deepEqual(logs.map(([e]) => e), ["refused"], what);
    assert.deepEqual(logs.map(([, f]) => f), [{ reason: "origin_not_allowed", status: 403 }], what);
  }
  // Through the env hook (the Deno and Workers transports) as well.
  const gw = createGateway({ keys: key, allowedOrigins: ["https://app.example"] });
  const env = { [UPGRADE_ENV_KEY]: upgrade };
  const before = upgrades;
  assert.equal((await gw.app.request(GW, ws("https://evil.example"), env)).status, 403);
  assert.equal(upgrades, before);
  assert.equal((await gw.app.request(GW, ws("https://app.example"), env)).status, 200);
  assert.equal(upgrades, before + 1);
});

Deno.test("createGateway: the key configuration's CORS follows allowedOrigins", async () => {
  const KC = "http://gw.test:8787/.well-known/pqgate";
  const get = async (allowedOrigins: readonly string[] | undefined, origin?: string) => {
    const gw = createGateway({ keys: key, allowedOrigins });
    const res = await gw.app.request(KC, { headers: origin ? { origin } : {} });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("x-content-type-options"), "nosniff");
    await res.body?.cancel();
    return { acao: res.headers.get("access-control-allow-origin"), vary: res.headers.get("vary") };
  };
  assert.deepEqual(await get(["https://app.example"], "https://app.example"), {
    acao: "https://app.example",
    vary: "Origin",
  });
  assert.deepEqual(await get(["https://app.example"], "https://evil.example"), {
    acao: null,
    vary: "Origin",
  });
  assert.deepEqual(await get(["https://app.example"]), { acao: null, vary: "Origin" });
  assert.deepEqual(await get(undefined, "http://gw.test:8787"), {
    acao: "http://gw.test:8787",
    vary: "Origin",
  });
  assert.deepEqual(await get(undefined, "https://evil.example"), { acao: null, vary: "Origin" });
  assert.deepEqual(await get([], "http://gw.test:8787"), { acao: null, vary: "Origin" });
  assert.deepEqual(await get(["*"], "https://evil.example"), { acao: "*", vary: null });
  assert.deepEqual(await get(["*"]), { acao: "*", vary: null });

  // keyConfigHandler mounted by a parent app, or called with a Request.
  const gw = createGateway({ keys: key, allowedOrigins: ["https://app.example"] });
  const parent = new Hono();
  parent.get("/.well-known/pqgate", gw.keyConfigHandler);
  const viaParent = await parent.request(KC, { headers: { origin: "https://app.example" } });
  assert.equal(viaParent.headers.get("access-control-allow-origin"), "https://app.example");
  const direct = gw.keyConfigHandler(
    new Request(KC, { headers: { origin: "https://evil.example" } }),
  );
  assert.equal(direct.headers.get("access-control-allow-origin"), null);
});

Deno.test("createGateway: every JSON answer of the app carries X-Content-Type-Options: nosniff", async () => {
  const gw = createGateway({ keys: key, allowedOrigins: [] });
  const answers = [
    await gw.app.request("/.well-known/pqgate"),
    await gw.app.request("/healthz"),
    await gw.app.request("/pqgate"), // 426
    await gw.app.request("/pqgate", {
      headers: { upgrade: "websocket", origin: "https://evil.example" },
    }), // 403
    await gw.app.request("/pqgate", { headers: { upgrade: "websocket" } }), // 501
  ];
  assert.deepEqual(answers.map((r) => r.status), [200, 200, 426, 403, 501]);
  for (const r of answers) {
    assert.match(r.headers.get("content-type") ?? "", /^application\/json/);
    assert.equal(r.headers.get("x-content-type-options"), "nosniff", String(r.status));
    await r.body?.cancel();
  }
});
