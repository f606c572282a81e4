/**
 * `connect(url, { auth })` and `AuthError` (docs/client-auth.md) against in-memory gateway
 * sessions with a fake AuthVerifier (src/tunnel/auth-testing.ts).
 */
import assert from "node:assert/strict";
import { toBase64Url } from "../protocol/bytes.ts";
import { pinFor } from "../protocol/static-keys.ts";
import { FAKE_PSK, fakeVerifier } from "../tunnel/auth-testing.ts";
import { settle, TEST_KEY } from "../tunnel/testing.ts";
import type { AuthVerifier, ClientIdentity, RequestHandler } from "../tunnel/types.ts";
import { Channel, connect, type ConnectOptions } from "./channel.ts";
import { AuthError } from "./errors.ts";
import { fakeWebSocket, gatewayEnd, oldGatewayEnd } from "./testing.ts";

const KEY = { publicKey: toBase64Url(TEST_KEY.publicKey) };
const FakeWS = fakeWebSocket(gatewayEnd(() => Promise.resolve(new Response("")))).WebSocket;

function setup(verifier: AuthVerifier | null = fakeVerifier(), old = false) {
  const seen: (ClientIdentity | null)[] = [];
  const handler: RequestHandler = (_req, info) => {
    seen.push(info.identity ?? null);
    return Promise.resolve(new Response("ok"));
  };
  const { WebSocket, gw } = fakeWebSocket(
    old ? oldGatewayEnd(handler) : gatewayEnd(handler, { auth: verifier ?? undefined }),
    { takesHello: true },
  );
  const opts = (auth?: ConnectOptions["auth"]): ConnectOptions => ({ ...KEY, WebSocket, auth });
  return { seen, gw, opts };
}

async function rejectsAuth(p: Promise<unknown>, reason: string, retryAfterMs?: number) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof AuthError, String(e));
    assert.equal(e.reason, reason);
    assert.equal(e.retryAfterMs, retryAfterMs);
    return true;
  });
}

Deno.test("password: connect authenticates; requests carry the identity; nothing extra on the wire", async () => {
  const { seen, gw, opts } = setup();
  const ch = await connect("wss://gw.example/pqgate", opts({ username: "ann", password: "right" }));
  assert.deepEqual(ch.authenticated, { method: "password", subject: "ann" });
  assert.equal(ch.pin, pinFor(TEST_KEY.publicKey));
  assert.equal(await (await ch.fetch("https://a.example/x")).text(), "ok");
  assert.deepEqual(seen, [{ method: "password", subject: "ann" }]);
  assert.equal(gw.connections, 1);
  ch.close();
  await settle();
});

Deno.test("a request made with the connect rides in the AUTH's record and sees the identity", async () => {
  const { seen, opts } = setup();
  const ch = new Channel("wss://gw.example/pqgate", opts({ token: "good" }));
  const r = await ch.fetch("https://a.example/first"); // opens the channel: AUTH + HEADERS
  assert.equal(await r.text(), "ok");
  assert.deepEqual(seen, [{
    method: "token",
    subject: "svc",
    issuer: "iss",
    expiresAt: seen[0]?.expiresAt,
  }]);
  assert.deepEqual(ch.authenticated, { method: "token", subject: "svc" });
  ch.close();
  await settle();
});

for (
  const [auth, reason, retry] of [
    [{ username: "ann", password: "wrong" }, "bad_credentials", undefined],
    [{ username: "busy", password: "x" }, "busy", 2000],
    [{ username: "limited", password: "x" }, "rate_limited", 5000],
    [{ token: "expired" }, "token_expired", undefined],
    [{ token: "forged" }, "token_invalid", undefined],
  ] as const
) {
  Deno.test(`connect rejects with AuthError ${reason}`, async () => {
    const { opts } = setup();
    await rejectsAuth(connect("wss://gw.example/pqgate", opts(auth)), reason, retry);
  });
}

Deno.test("method not enabled, or no verifier: AuthError method_not_enabled", async () => {
  for (const v of [fakeVerifier({ methods: ["token"] }), null]) {
    const { opts } = setup(v);
    await rejectsAuth(
      connect("wss://gw.example/pqgate", opts({ username: "ann", password: "right" })),
      "method_not_enabled",
    );
  }
});

Deno.test("token callback: called at every connect and reconnect; token_expired → one refresh on the same channel", async () => {
  const v = fakeVerifier();
  const { seen, gw, opts } = setup(v);
  const tokens = ["expired", "good", "good2"];
  let calls = 0;
  const ch = await connect(
    "wss://gw.example/pqgate",
    opts({ token: () => Promise.resolve(tokens[calls++]) }),
  );
  assert.equal(calls, 2, "expired, then a new token");
  assert.equal(gw.connections, 1, "the refresh went on the same channel");
  assert.equal(v.calls.token, 2);
  assert.deepEqual(ch.authenticated, { method: "token", subject: "svc" });
  // Reconnect after the gateway went away: the callback is called again.
  (gw.servers[0] as { shutdown: () => void }).shutdown();
  await settle(10);
  await ch.fetch("https://a.example/after");
  assert.equal(calls, 3);
  assert.equal(gw.connections, 2);
  assert.equal(seen[seen.length - 1]?.subject, "svc");
  ch.close();
  await settle();
});

Deno.test("a token callback that throws fails connect with its error; a bad token is a TypeError", async () => {
  const { opts } = setup();
  await assert.rejects(
    connect(
      "wss://gw.example/pqgate",
      opts({ token: () => Promise.reject(new Error("no token")) }),
    ),
    /no token/,
  );
  await assert.rejects(
    connect("wss://gw.example/pqgate", opts({ token: () => "has space" })),
    TypeError,
  );
});

Deno.test("psk: right key authenticates; wrong key or unknown id → AuthError psk_rejected (4004)", async () => {
  const { seen, opts } = setup();
  const ch = await connect(
    "wss://gw.example/pqgate",
    opts({ psk: toBase64Url(FAKE_PSK), pskId: "dev-1" }),
  );
  assert.deepEqual(ch.authenticated, { method: "psk", subject: "dev-1" });
  await ch.fetch("https://a.example/p");
  assert.deepEqual(seen, [{ method: "psk", subject: "dev-1" }]);
  ch.close();
  for (
    const auth of [{ psk: new Uint8Array(32), pskId: "dev-1" }, { psk: FAKE_PSK, pskId: "nobody" }]
  ) {
    await assert.rejects(connect("wss://gw.example/pqgate", opts(auth)), (e: unknown) => {
      assert.ok(e instanceof AuthError);
      assert.equal(e.reason, "psk_rejected");
      assert.equal(e.code, 4004);
      assert.match(e.message, /wrong.*OR.*pskId.*OR/);
      return true;
    });
  }
  await settle();
});

Deno.test("a gateway without the extensions (1.2) → AuthError unsupported_by_gateway (4012); without auth it works", async () => {
  const { opts } = setup(null, true);
  for (
    const auth of [{ username: "ann", password: "right" }, { token: "good" }, {
      psk: FAKE_PSK,
      pskId: "dev-1",
    }]
  ) {
    await assert.rejects(connect("wss://gw.example/pqgate", opts(auth)), (e: unknown) => {
      assert.ok(e instanceof AuthError);
      assert.equal(e.reason, "unsupported_by_gateway");
      assert.equal(e.code, 4012);
      return true;
    });
  }
  const ch = await connect("wss://gw.example/pqgate", opts());
  assert.equal(await (await ch.fetch("https://a.example/")).text(), "ok");
  ch.close();
  await settle();
});

Deno.test("a password or token is never sent in anonymous mode; a psk may be", () => {
  const { gw } = setup();
  for (const auth of [{ username: "ann", password: "right" }, { token: "good" }]) {
    assert.throws(
      () => new Channel("wss://gw.example/pqgate", { anonymous: true, auth, WebSocket: FakeWS }),
      TypeError,
    );
  }
  new Channel("wss://gw.example/pqgate", {
    anonymous: true,
    auth: { psk: FAKE_PSK, pskId: "dev-1" },
    WebSocket: FakeWS,
  });
  assert.equal(gw.connections, 0);
});

Deno.test("auth options are checked before connecting (TypeError, no secret in the message)", () => {
  const { opts } = setup();
  for (
    const bad of [
      { psk: new Uint8Array(31), pskId: "a" },
      { psk: "not base64!", pskId: "a" },
      { psk: FAKE_PSK, pskId: "" },
      { psk: FAKE_PSK, pskId: "x".repeat(129) },
      { username: "", password: "p" },
      { username: "u", password: "" },
      { username: "u", password: "p".repeat(1025) },
      { token: "" },
      { token: "a b" },
      { nothing: true },
    ]
  ) {
    assert.throws(
      () => new Channel("wss://gw.example/pqgate", opts(bad as unknown as ConnectOptions["auth"])),
      (e: unknown) => e instanceof TypeError && !String(e).includes("p".repeat(10)),
      JSON.stringify(bad).slice(0, 60),
    );
  }
});
