/** The client library against in-memory gateway sessions (no real network). */
import assert from "node:assert/strict";
import { fromBase64Url, toBase64Url, toHex } from "../protocol/bytes.ts";
import { forgetPinnedKey, KEY_CACHE_MAX_ENTRIES, pinnedKey } from "./key-config.ts";
import { generateStaticKey, pinFor } from "../protocol/static-keys.ts";
import { seededRandom } from "../protocol/testing.ts";
import { settle, TEST_KEY } from "../tunnel/testing.ts";
import type { RequestHandler } from "../tunnel/types.ts";
import { connect } from "./channel.ts";
import {
  ChannelClosedError,
  ConnectError,
  HandshakeTimeoutError,
  PinMismatchError,
  VersionRefusedError,
} from "./errors.ts";
import { fakeWebSocket, gatewayEnd, type ServerEnd } from "./testing.ts";

const PIN = pinFor(TEST_KEY.publicKey);

const keyConfig: typeof fetch = (input) => {
  assert.equal(
    String(input instanceof Request ? input.url : input),
    "https://gw.example/.well-known/pqgate",
  );
  return Promise.resolve(Response.json({
    version: 1,
    suites: ["0x0001", "0x0002"],
    keys: [{
      key_id: toHex(TEST_KEY.keyId),
      kem: "X-Wing",
      public_key: toBase64Url(TEST_KEY.publicKey),
      pin: PIN,
    }],
  }));
};

const echo: RequestHandler = async (req) =>
  new Response(req.body ? await req.text() : `${req.method} ${req.url}`, {
    headers: { "x-cl": req.headers.get("content-length") ?? "" },
  });

function gateway(handler: RequestHandler = echo): ServerEnd {
  return gatewayEnd(handler);
}

Deno.test("connect with a pin, fetch, info getters, close", async () => {
  const { WebSocket, gw } = fakeWebSocket(gateway());
  const ch = await connect("wss://gw.example/pqgate", {
    pin: PIN,
    WebSocket,
    fetchConfig: keyConfig,
    baseUrl: "https://api.example/",
  });
  assert.equal(ch.pin, PIN);
  assert.equal(ch.keyId, toHex(TEST_KEY.keyId));
  assert.equal(ch.suite, 1);
  assert.equal(ch.sessionId?.length, 32);
  assert.equal(ch.handshake?.clientHelloBytes, 2386);
  assert.equal(ch.handshake?.serverHelloBytes, 1190);
  assert.ok((ch.handshake?.durationMs ?? -1) >= 0);
  const r = await ch.fetch("https://api.example/v1/x?y=1");
  assert.equal(await r.text(), "GET https://api.example/v1/x?y=1");
  const rel = await ch.fetch("/rel", { method: "POST", body: "abc" });
  assert.equal(await rel.text(), "abc");
  assert.equal(rel.headers.get("x-cl"), "3");
  const [a, b] = await Promise.all([
    ch.fetch("/a", { method: "PUT", body: "A" }),
    ch.fetch("/b", { method: "PUT", body: "B" }),
  ]);
  assert.deepEqual([await a.text(), await b.text()], ["A", "B"]);
  assert.equal(gw.connections, 1);
  ch.close();
  await assert.rejects(ch.fetch("/after"), ChannelClosedError);
  await settle();
});

Deno.test("wrong pin → PinMismatchError, no WebSocket opened", async () => {
  const { WebSocket, gw } = fakeWebSocket(gateway());
  const other = generateStaticKey(seededRandom("other key")(32));
  await assert.rejects(
    connect("wss://gw.example/", {
      pin: pinFor(other.publicKey),
      WebSocket,
      fetchConfig: keyConfig,
    }),
    (e) => e instanceof PinMismatchError && /no key of the gateway/.test(e.message),
  );
  assert.equal(gw.connections, 0);
});

Deno.test("gateway closes 4001 → VersionRefusedError", async () => {
  const { WebSocket } = fakeWebSocket((ss) => {
    ss.onmessage = () => ss.close(4001, "unsupported version");
  });
  await assert.rejects(
    connect("wss://gw.example/", { pin: PIN, WebSocket, fetchConfig: keyConfig }),
    (e) => e instanceof VersionRefusedError && e.code === 4001 && e instanceof ChannelClosedError,
  );
});

Deno.test("a gateway that closes right after the upgrade (4009) is reported, not lost while the hello is prepared", async () => {
  // The close arrives after the socket opened but while the ClientHello may still be in its
  // asynchronous (native WebCrypto) preparation: it must surface as its close code, not as a
  // handshake timeout. Two timer turns put it just after the fake socket's open event.
  const { WebSocket } = fakeWebSocket((ss) => {
    setTimeout(() => setTimeout(() => ss.close(4009, "rate limited: too many handshakes"), 0), 0);
  });
  const t0 = performance.now();
  await assert.rejects(
    connect("wss://gw.example/", {
      pin: PIN,
      WebSocket,
      fetchConfig: keyConfig,
      handshakeTimeoutMs: 3000,
    }),
    (e) => e instanceof ChannelClosedError && e.code === 4009,
  );
  assert.ok(performance.now() - t0 < 2000, "reported at once, not after the handshake timeout");
});

Deno.test("ChannelClosedError names the code and reason", async () => {
  const { WebSocket } = fakeWebSocket((ss) => {
    ss.onmessage = () => ss.close(4005, "record authentication failed");
  });
  await assert.rejects(
    connect("wss://gw.example/", { pin: PIN, WebSocket, fetchConfig: keyConfig }),
    (e) =>
      e instanceof ChannelClosedError && e.code === 4005 &&
      e.message.includes("closed by gateway with code 4005 (record authentication failed)"),
  );
});

Deno.test("no answer → HandshakeTimeoutError", async () => {
  const { WebSocket } = fakeWebSocket(() => {});
  await assert.rejects(
    connect("wss://gw.example/", {
      pin: PIN,
      WebSocket,
      fetchConfig: keyConfig,
      handshakeTimeoutMs: 50,
    }),
    HandshakeTimeoutError,
  );
  await settle();
});

Deno.test("after the gateway closed the channel, the next fetch reconnects with a fresh handshake", async () => {
  const { WebSocket, gw } = fakeWebSocket(gateway());
  const ch = await connect("wss://gw.example/", { pin: PIN, WebSocket, fetchConfig: keyConfig });
  const first = ch.sessionId;
  await (await ch.fetch("https://api.example/1")).text();
  (gw.servers[0] as { shutdown: () => void }).shutdown();
  await settle();
  assert.equal(ch.connected, false);
  const r = await ch.fetch("https://api.example/2");
  assert.equal(await r.text(), "GET https://api.example/2");
  assert.equal(gw.connections, 2);
  assert.notEqual(ch.sessionId, first);
  ch.close();
  await settle();
});

Deno.test("options: must choose pin/publicKey/anonymous; pin excludes anonymous; publicKey works without config", async () => {
  const { WebSocket, gw } = fakeWebSocket(gateway());
  await assert.rejects(connect("wss://gw.example/", { WebSocket }), /choose how to authenticate/);
  await assert.rejects(
    connect("wss://gw.example/", { WebSocket, pin: PIN, anonymous: true }),
    /exclude each other/,
  );
  await assert.rejects(
    connect("wss://gw.example/", { WebSocket, pin: "sha256:nope" }),
    /malformed pin/,
  );
  await assert.rejects(
    connect("wss://gw.example/", { WebSocket: 42, anonymous: true }),
    ConnectError,
  );
  await assert.rejects(
    connect("https://gw.example/", { WebSocket, anonymous: true }),
    /ws: or wss:/,
  );
  const ch = await connect("wss://gw.example/", {
    WebSocket,
    publicKey: toBase64Url(TEST_KEY.publicKey),
  });
  assert.equal(ch.keyId, toHex(TEST_KEY.keyId));
  ch.close();
  assert.equal(gw.connections, 1);
  // Anonymous against a gateway that refuses it → 4010.
  await assert.rejects(
    connect("wss://gw.example/", { WebSocket, anonymous: true }),
    (e) => e instanceof ChannelClosedError && e.code === 4010,
  );
  await settle();
});

Deno.test("key configuration unreachable → ConnectError", async () => {
  const { WebSocket } = fakeWebSocket(gateway());
  await assert.rejects(
    connect("wss://gw.example/", {
      pin: PIN,
      WebSocket,
      fetchConfig: () => Promise.resolve(new Response("no", { status: 404 })),
    }),
    (e) => e instanceof ConnectError && /key configuration/.test(e.message),
  );
});

Deno.test("keyConfigUrl: the key configuration is fetched from the given URL, not the channel's host root", async () => {
  const { WebSocket, gw } = fakeWebSocket(gateway());
  const seen: string[] = [];
  const mounted: typeof fetch = (input) => {
    const url = String(input instanceof Request ? input.url : input);
    seen.push(url);
    if (url !== "https://app.example/pq/.well-known/pqgate") {
      return Promise.resolve(new Response("not found", { status: 404 }));
    }
    return keyConfig("https://gw.example/.well-known/pqgate");
  };
  // Without the option the client looks at the host root and finds nothing.
  await assert.rejects(
    connect("wss://app.example/pq/pqgate", { pin: PIN, WebSocket, fetchConfig: mounted }),
    (e) =>
      e instanceof ConnectError && e.message.includes("https://app.example/.well-known/pqgate") &&
      /HTTP 404/.test(e.message),
  );
  assert.equal(gw.connections, 0);
  for (
    const keyConfigUrl of [
      "https://app.example/pq/.well-known/pqgate",
      new URL("https://app.example/pq/.well-known/pqgate#x"),
    ]
  ) {
    const ch = await connect("wss://app.example/pq/pqgate", {
      pin: PIN,
      WebSocket,
      fetchConfig: mounted,
      keyConfigUrl,
    });
    assert.equal(ch.pin, PIN);
    assert.equal(
      await (await ch.fetch("https://api.example/k")).text(),
      "GET https://api.example/k",
    );
    ch.close();
  }
  // The second channel reuses the key the first one verified (same URL, pin and fetch).
  assert.deepEqual(seen, [
    "https://app.example/.well-known/pqgate",
    "https://app.example/pq/.well-known/pqgate",
  ]);
  assert.equal(gw.connections, 2);
  await settle();
});

Deno.test("keyConfigUrl: validated (http(s), absolute, no credentials) and only with a pin", async () => {
  const { WebSocket, gw } = fakeWebSocket(gateway());
  let fetched = 0;
  const counting: typeof fetch =
    () => (fetched++, keyConfig("https://gw.example/.well-known/pqgate"));
  const bad: [unknown, RegExp][] = [
    [42, /keyConfigUrl option must be a string or a URL/],
    ["/pq/.well-known/pqgate", /keyConfigUrl option is not an absolute URL/],
    [
      "wss://gw.example/pq/.well-known/pqgate",
      /keyConfigUrl option must be an http: or https: URL, not wss:/,
    ],
    ["file:///etc/passwd", /keyConfigUrl option must be an http: or https: URL, not file:/],
    [
      "https://user:secret@gw.example/.well-known/pqgate",
      /keyConfigUrl option must not contain credentials/,
    ],
    [
      "https://user@gw.example/.well-known/pqgate",
      /keyConfigUrl option must not contain credentials/,
    ],
  ];
  for (const [keyConfigUrl, re] of bad) {
    await assert.rejects(
      connect("wss://gw.example/", {
        pin: PIN,
        WebSocket,
        fetchConfig: counting,
        keyConfigUrl: keyConfigUrl as string,
      }),
      (e) => e instanceof TypeError && re.test(e.message) && !e.message.includes("secret"),
    );
  }
  // With publicKey (no configuration is fetched) or anonymous, the option has no use: refused.
  const publicKey = toBase64Url(TEST_KEY.publicKey);
  const url = "https://gw.example/pq/.well-known/pqgate";
  await assert.rejects(
    connect("wss://gw.example/", { WebSocket, publicKey, keyConfigUrl: url }),
    (e) => e instanceof TypeError && /only with \{ pin \}/.test(e.message),
  );
  await assert.rejects(
    connect("wss://gw.example/", { WebSocket, pin: PIN, publicKey, keyConfigUrl: url }),
    (e) => e instanceof TypeError && /only with \{ pin \}/.test(e.message),
  );
  await assert.rejects(
    connect("wss://gw.example/", { WebSocket, anonymous: true, keyConfigUrl: url }),
    (e) => e instanceof TypeError && /only with \{ pin \}/.test(e.message),
  );
  assert.equal(fetched, 0);
  assert.equal(gw.connections, 0);
});

Deno.test("publicKey skips the key-configuration request (with or without a matching pin)", async () => {
  const { WebSocket, gw } = fakeWebSocket(gateway());
  let fetched = 0;
  const counting: typeof fetch =
    () => (fetched++, keyConfig("https://gw.example/.well-known/pqgate"));
  const publicKey = toBase64Url(TEST_KEY.publicKey);
  for (const o of [{ publicKey }, { publicKey, pin: PIN }]) {
    const ch = await connect("wss://gw.example/", { WebSocket, fetchConfig: counting, ...o });
    assert.equal(ch.pin, PIN);
    assert.equal(
      await (await ch.fetch("https://api.example/p")).text(),
      "GET https://api.example/p",
    );
    ch.close();
  }
  assert.equal(fetched, 0);
  assert.equal(gw.connections, 2);
  await settle();
});

Deno.test("response.url is the request URL without its fragment, which is never sent (like fetch)", async () => {
  const { WebSocket } = fakeWebSocket(gateway());
  const ch = await connect("wss://gw.example/", {
    WebSocket,
    publicKey: toBase64Url(TEST_KEY.publicKey),
    baseUrl: "https://api.example/",
  });
  const r = await ch.fetch("https://api.example/p?q=1#section");
  assert.equal(await r.text(), "GET https://api.example/p?q=1");
  assert.equal(r.url, "https://api.example/p?q=1");
  assert.equal(r.redirected, false);
  const rel = await ch.fetch("/rel#x");
  assert.equal(rel.url, "https://api.example/rel");
  await rel.text();
  ch.close();
  await settle();
});

Deno.test("Channel.fetch refuses integrity (it cannot check it) and sends Accept: */* by default", async () => {
  const seen: (string | null)[] = [];
  const { WebSocket } = fakeWebSocket(
    gateway((req) => (seen.push(req.headers.get("accept")), Promise.resolve(new Response("ok")))),
  );
  const ch = await connect("wss://gw.example/pqgate", {
    pin: PIN,
    WebSocket,
    fetchConfig: keyConfig,
  });
  try {
    await assert.rejects(
      ch.fetch("https://api.example/x", {
        integrity: "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
      }),
      (e: Error) => e instanceof TypeError && /integrity/.test(e.message),
    );
    await assert.rejects(
      ch.fetch(new Request("https://api.example/x", { integrity: "sha384-abc" })),
      TypeError,
    );
    assert.equal(await (await ch.fetch("https://api.example/x")).text(), "ok");
    assert.equal(
      await (await ch.fetch("https://api.example/x", { headers: { accept: "text/csv" } })).text(),
      "ok",
    );
    assert.deepEqual(seen, ["*/*", "text/csv"]);
  } finally {
    ch.close();
  }
});

Deno.test("hello in the upgrade URL: taken by a 1.2 gateway (no ClientHello message), else sent as the first message", async () => {
  for (const takesHello of [true, false]) {
    const { WebSocket, gw } = fakeWebSocket(gateway(), { takesHello });
    const ch = await connect("wss://gw.example/pqgate?x=1", {
      publicKey: TEST_KEY.publicKey,
      WebSocket,
    });
    assert.equal(
      await (await ch.fetch("https://api.example/h")).text(),
      "GET https://api.example/h",
    );
    const up = gw.upgrades[0];
    assert.deepEqual(up.protocols, ["pqgate", "pqgate.hello"]);
    const u = new URL(up.url);
    assert.equal(u.searchParams.get("x"), "1");
    assert.equal(fromBase64Url(u.searchParams.get("pqgate_hello")!).length, 2386);
    assert.equal(gw.urlHellos, takesHello ? 1 : 0);
    ch.close();
  }
  // helloInUrl: false: plain URL, no subprotocol.
  const { WebSocket, gw } = fakeWebSocket(gateway(), { takesHello: true });
  const ch = await connect("wss://gw.example/pqgate", {
    publicKey: TEST_KEY.publicKey,
    WebSocket,
    helloInUrl: false,
  });
  assert.deepEqual(gw.upgrades, [{ url: "wss://gw.example/pqgate", protocols: [] }]);
  assert.equal(gw.urlHellos, 0);
  ch.close();
  await settle();
});

Deno.test("pin only: a verified key is remembered per fetch function until max-age; no-store is not; 4003 forgets", async () => {
  const { WebSocket } = fakeWebSocket(gateway(), { takesHello: true });
  let fetches = 0;
  let cacheControl: string | null = "public, max-age=60";
  const counting = (_input: unknown): Promise<Response> => {
    fetches++;
    const headers: Record<string, string> = cacheControl === null
      ? {}
      : { "cache-control": cacheControl };
    return Promise.resolve(Response.json({
      keys: [{
        key_id: toHex(TEST_KEY.keyId),
        kem: "X-Wing",
        public_key: toBase64Url(TEST_KEY.publicKey),
      }],
    }, { headers }));
  };
  for (let i = 0; i < 3; i++) {
    const ch = await connect("wss://cache.example/pqgate", {
      pin: PIN,
      WebSocket,
      fetchConfig: counting,
    });
    ch.close();
  }
  assert.equal(fetches, 1);
  // Another fetch function does not see that entry.
  const other: typeof fetch = (input) => counting(input);
  (await connect("wss://cache.example/pqgate", { pin: PIN, WebSocket, fetchConfig: other }))
    .close();
  assert.equal(fetches, 2);
  // no-store: fetched every time.
  cacheControl = "no-store";
  const fresh: typeof fetch = (input) => counting(input);
  for (let i = 0; i < 2; i++) {
    (await connect("wss://nostore.example/pqgate", { pin: PIN, WebSocket, fetchConfig: fresh }))
      .close();
  }
  assert.equal(fetches, 4);
  // The cache is bounded: KEY_CACHE_MAX_ENTRIES hosts later the first one is fetched again.
  cacheControl = null;
  const bounded: typeof fetch = (input) => counting(input);
  const before = fetches;
  for (let i = 0; i <= KEY_CACHE_MAX_ENTRIES; i++) {
    await pinnedKey(`wss://h${i}.example/pqgate`, PIN, bounded);
  }
  await pinnedKey("wss://h0.example/pqgate", PIN, bounded);
  assert.equal(fetches - before, KEY_CACHE_MAX_ENTRIES + 2);
  // Expiry: past max-age (60 s default without cache-control) the next channel fetches again.
  let t = 1_000_000;
  const clocked: typeof fetch = (input) => counting(input);
  await pinnedKey("wss://t.example/pqgate", PIN, clocked, undefined, () => t);
  t += 59_000;
  await pinnedKey("wss://t.example/pqgate", PIN, clocked, undefined, () => t);
  const mid = fetches;
  t += 2_000;
  await pinnedKey("wss://t.example/pqgate", PIN, clocked, undefined, () => t);
  assert.equal(fetches, mid + 1);
  forgetPinnedKey("wss://t.example/pqgate", PIN, clocked);
  await pinnedKey("wss://t.example/pqgate", PIN, clocked, undefined, () => t);
  assert.equal(fetches, mid + 2);
  await settle();
});
