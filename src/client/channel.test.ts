/** The client library against in-memory gateway sessions (no real network). */
import assert from "node:assert/strict";
import { toBase64Url, toHex } from "../protocol/bytes.ts";
import { generateStaticKey, pinFor } from "../protocol/static-keys.ts";
import { seededRandom } from "../protocol/testing.ts";
import { settle, TEST_KEY } from "../tunnel/testing.ts";
import type { RequestHandler } from "../tunnel/types.ts";
import { connect } from "./channel.ts";
import { ChannelClosedError, ConnectError, HandshakeTimeoutError, PinMismatchError, VersionRefusedError } from "./errors.ts";
import { fakeWebSocket, gatewayEnd, type ServerEnd } from "./testing.ts";

const PIN = pinFor(TEST_KEY.publicKey);

const keyConfig: typeof fetch = (input) => {
  assert.equal(String(input instanceof Request ? input.url : input), "https://gw.example/.well-known/pqgate");
  return Promise.resolve(Response.json({
    version: 1,
    suites: ["0x0001", "0x0002"],
    keys: [{ key_id: toHex(TEST_KEY.keyId), kem: "X-Wing", public_key: toBase64Url(TEST_KEY.publicKey), pin: PIN }],
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
  const ch = await connect("wss://gw.example/pqgate", { pin: PIN, WebSocket, fetchConfig: keyConfig, baseUrl: "https://api.example/" });
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
  const [a, b] = await Promise.all([ch.fetch("/a", { method: "PUT", body: "A" }), ch.fetch("/b", { method: "PUT", body: "B" })]);
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
    connect("wss://gw.example/", { pin: pinFor(other.publicKey), WebSocket, fetchConfig: keyConfig }),
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
    connect("wss://gw.example/", { pin: PIN, WebSocket, fetchConfig: keyConfig, handshakeTimeoutMs: 3000 }),
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
    connect("wss://gw.example/", { pin: PIN, WebSocket, fetchConfig: keyConfig, handshakeTimeoutMs: 50 }),
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
  await assert.rejects(connect("wss://gw.example/", { WebSocket, pin: PIN, anonymous: true }), /exclude each other/);
  await assert.rejects(connect("wss://gw.example/", { WebSocket, pin: "sha256:nope" }), /malformed pin/);
  await assert.rejects(connect("wss://gw.example/", { WebSocket: 42, anonymous: true }), ConnectError);
  await assert.rejects(connect("https://gw.example/", { WebSocket, anonymous: true }), /ws: or wss:/);
  const ch = await connect("wss://gw.example/", { WebSocket, publicKey: toBase64Url(TEST_KEY.publicKey) });
  assert.equal(ch.keyId, toHex(TEST_KEY.keyId));
  ch.close();
  assert.equal(gw.connections, 1);
  // Anonymous against a gateway that refuses it → 4010.
  await assert.rejects(connect("wss://gw.example/", { WebSocket, anonymous: true }), (e) => e instanceof ChannelClosedError && e.code === 4010);
  await settle();
});

Deno.test("key configuration unreachable → ConnectError", async () => {
  const { WebSocket } = fakeWebSocket(gateway());
  await assert.rejects(
    connect("wss://gw.example/", { pin: PIN, WebSocket, fetchConfig: () => Promise.resolve(new Response("no", { status: 404 })) }),
    (e) => e instanceof ConnectError && /key configuration/.test(e.message),
  );
});
