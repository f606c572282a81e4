/**
 * Per-process admission (admission.ts) through serveDeno: `maxSockets` and
 * `maxHandshakesInFlight` are answered HTTP 503 before the upgrade, and the client library
 * reports the status.
 */
import assert from "node:assert/strict";
import { WebSocket as NodeWebSocket } from "ws";
import { connect } from "../../client/mod.ts";
import { ConnectError } from "../../client/errors.ts";
import { createGateway } from "../../gateway/create-gateway.ts";
import { generateStaticKey, pinFor } from "../../protocol/static-keys.ts";
import { serveDeno } from "./serve.ts";
import { rawUpgrade, waitFor } from "./testing.ts";

const key = generateStaticKey(new Uint8Array(32).fill(6));
const opts = { sanitizeOps: false, sanitizeResources: false };
const wsUrl = (s: { url: string }) => `${s.url.replace(/^http/, "ws")}/pqgate`;

Deno.test({
  ...opts,
  name:
    "serveDeno: maxSockets refuses the next upgrade with 503 + retry-after until a socket is gone",
  async fn() {
    const server = serveDeno({ gateway: createGateway({ keys: key }), port: 0, maxSockets: 2 });
    try {
      const a = await rawUpgrade(wsUrl(server));
      const b = await rawUpgrade(wsUrl(server));
      assert.deepEqual([a.status, b.status], [101, 101]);
      const c = await rawUpgrade(wsUrl(server));
      assert.equal(c.status, 503);
      assert.equal(c.headers.get("retry-after"), "1");
      c.conn.close();
      a.conn.close();
      assert.ok(await waitFor(() => server.transport.sessionCount === 1, 3000));
      const d = await rawUpgrade(wsUrl(server));
      assert.equal(d.status, 101);
      b.conn.close();
      d.conn.close();
    } finally {
      await server.shutdown();
    }
  },
});

Deno.test({
  ...opts,
  name:
    "serveDeno: maxHandshakesInFlight counts upgraded sockets until established; the client reports HTTP 503",
  async fn() {
    const server = serveDeno({
      gateway: createGateway({ keys: key }),
      port: 0,
      maxHandshakesInFlight: 1,
    });
    const url = wsUrl(server);
    const pin = pinFor(key.publicKey);
    try {
      const raw = await rawUpgrade(url); // upgraded, never handshakes
      assert.equal(raw.status, 101);
      assert.equal(server.transport.handshakesInFlight, 1);
      // Deno's WebSocket and the ws package both report the refusal's status.
      for (const WebSocket of [undefined, NodeWebSocket]) {
        await assert.rejects(connect(url, { pin, WebSocket }), (e: unknown) => {
          assert.ok(e instanceof ConnectError, String(e));
          assert.equal(e.status, 503);
          assert.match(e.message, /upgrade refused: HTTP 503 \(overloaded or shutting down\)/);
          return true;
        });
      }
      raw.conn.close();
      assert.ok(await waitFor(() => server.transport.handshakesInFlight === 0, 3000));
      // An established channel no longer counts: another socket may handshake meanwhile.
      const ch = await connect(url, { pin });
      assert.equal((await ch.fetch("https://demo/api/hello")).status, 200);
      assert.equal(server.transport.handshakesInFlight, 0);
      assert.equal(server.transport.sessionCount, 1);
      const again = await rawUpgrade(url);
      assert.equal(again.status, 101);
      again.conn.close();
      ch.close();
    } finally {
      await server.shutdown();
    }
  },
});

Deno.test("serveDeno: process limits and timeouts are validated, naming the option", () => {
  const gateway = createGateway({ keys: key });
  for (
    const [opt, v, re] of [
      ["maxSockets", -1, /options\.maxSockets must be an integer from 0/],
      ["maxHandshakesInFlight", 2.5, /options\.maxHandshakesInFlight must be an integer from 0/],
      ["closeTimeoutMs", 50, /options\.closeTimeoutMs must be an integer from 100 to 60000/],
      [
        "headersTimeoutMs",
        "5000",
        /options\.headersTimeoutMs must be an integer from 100 to 60000/,
      ],
      ["server", "bun", /options\.server must be "node" or "deno"/],
    ] as const
  ) {
    assert.throws(() => serveDeno({ gateway, port: 0, [opt]: v } as never), re);
  }
});

Deno.test({
  ...opts,
  name: "serveDeno: an upgrade request whose headers never complete is cut at headersTimeoutMs",
  async fn() {
    const server = serveDeno({
      gateway: createGateway({ keys: key }),
      port: 0,
      headersTimeoutMs: 300,
    });
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
      await conn.write(
        new TextEncoder().encode("GET /pqgate HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"),
      );
      const t0 = Date.now();
      const n = await conn.read(new Uint8Array(1024)).catch(() => null);
      const ms = Date.now() - t0;
      assert.equal(n, null);
      assert.ok(ms >= 250 && ms < 1500, `closed after ${ms} ms`);
      conn.close();
    } finally {
      await server.shutdown();
    }
  },
});
