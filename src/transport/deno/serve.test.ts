import assert from "node:assert/strict";
import { connect } from "../../client/mod.ts";
import { createGateway } from "../../gateway/create-gateway.ts";
import { generateStaticKey, pinFor } from "../../protocol/gateway-keys.ts";
import { serveDeno } from "./serve.ts";

const key = generateStaticKey(new Uint8Array(32).fill(3));

Deno.test({
  name: "serveDeno: aborting the signal closes every channel with 1001, then the server stops",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const ac = new AbortController();
    const gateway = createGateway({ keys: key });
    const server = serveDeno({ gateway, port: 0, signal: ac.signal });
    const ws = `${server.url.replace(/^http/, "ws")}/pqgate`;
    const ch = await connect(ws, { pin: pinFor(key.publicKey) });
    assert.equal((await ch.fetch("https://demo/api/hello")).status, 200);
    assert.equal(server.transport.sessionCount, 1);

    // A second, raw socket still in its handshake.
    const raw = new WebSocket(ws);
    await new Promise((r) => (raw.onopen = r));
    const rawClosed = new Promise<number>((r) => (raw.onclose = (e) => r(e.code)));
    assert.equal(server.transport.sessionCount, 2);

    ac.abort();
    await server.finished;
    assert.equal(await rawClosed, 1001);
    assert.equal(ch.connected, false);
    assert.equal(server.transport.sessionCount, 0);
    await assert.rejects(fetch(`${server.url}/healthz`));
    ch.close();
  },
});

Deno.test({
  name: "serveDeno: validates its gateway option and reports the bound address",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    assert.throws(() => serveDeno({ gateway: {} as never }), /options\.gateway must be a gateway/);
    const server = serveDeno({ gateway: createGateway({ keys: key }), port: 0 });
    try {
      assert.equal(server.addr.hostname, "127.0.0.1");
      assert.ok(server.addr.port > 0);
      assert.equal(server.url, `http://127.0.0.1:${server.addr.port}`);
      const kc = await (await fetch(`${server.url}/.well-known/pqgate`)).json();
      assert.equal(kc.keys[0].pin, pinFor(key.publicKey));
    } finally {
      await server.shutdown();
      await server.shutdown(); // idempotent
    }
  },
});
