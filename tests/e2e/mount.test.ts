/**
 * The gateway mounted into an existing Hono app (`parent.route("/pq", gateway.app)`), served
 * by the user's own `Deno.serve` with the Deno transport passed as the upgrade hook, and by
 * `serveDeno({ fetch: parent.fetch })`. The key configuration is mounted at the host root, or
 * found under the prefix with the client's `keyConfigUrl` option.
 */
import assert from "node:assert/strict";
import { Hono } from "hono";
import { connect, ConnectError } from "../../src/client/mod.ts";
import { createGateway } from "../../src/gateway/create-gateway.ts";
import { generateStaticKey, pinFor } from "../../src/protocol/static-keys.ts";
import { denoTransport, serveDeno } from "../../src/transport/deno/serve.ts";

const key = generateStaticKey(crypto.getRandomValues(new Uint8Array(32)));
const pin = pinFor(key.publicKey);

function parentApp(gateway: ReturnType<typeof createGateway>): Hono {
  const parent = new Hono();
  parent.get("/", (c) => c.text("my existing app"));
  parent.route("/pq", gateway.app); // channel at /pq/pqgate, health at /pq/healthz
  parent.get("/.well-known/pqgate", gateway.keyConfigHandler); // clients look at the root
  return parent;
}

async function exercise(base: string): Promise<void> {
  assert.equal(await (await fetch(`${base}/`)).text(), "my existing app");
  assert.equal((await fetch(`${base}/pq/healthz`)).status, 200);
  const ch = await connect(`${base.replace(/^http/, "ws")}/pq/pqgate`, { pin });
  try {
    const r = await ch.fetch("https://demo/api/items/3");
    assert.equal(r.status, 200);
    assert.equal((await r.json()).name, "hybrid");
  } finally {
    ch.close();
  }
}

Deno.test({
  name: "e2e: gateway mounted in a parent Hono app on the user's own Deno.serve",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const transport = denoTransport();
    const gateway = createGateway({ keys: key, upgrade: transport.upgrade });
    const parent = parentApp(gateway);
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      (req, info) => parent.fetch(req, info),
    );
    try {
      await exercise(`http://127.0.0.1:${server.addr.port}`);
    } finally {
      await transport.shutdown();
      await server.shutdown();
    }
  },
});

Deno.test({
  name: "e2e: gateway mounted in a parent Hono app served by serveDeno({ fetch })",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const gateway = createGateway({ keys: key });
    const parent = parentApp(gateway);
    const server = serveDeno({ gateway, port: 0, fetch: (req, env) => parent.fetch(req, env) });
    try {
      await exercise(server.url);
    } finally {
      await server.shutdown();
    }
  },
});

Deno.test({
  name:
    "e2e: gateway mounted under /pq with no root key config: the client finds it only with keyConfigUrl",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const gateway = createGateway({ keys: key });
    const parent = new Hono();
    parent.route("/pq", gateway.app); // key configuration at /pq/.well-known/pqgate only
    const server = serveDeno({ gateway, port: 0, fetch: (req, env) => parent.fetch(req, env) });
    try {
      const channelUrl = `${server.url.replace(/^http/, "ws")}/pq/pqgate`;
      assert.equal((await fetch(`${server.url}/.well-known/pqgate`)).status, 404);
      await assert.rejects(
        connect(channelUrl, { pin }),
        (e) => e instanceof ConnectError && e.message.includes(`${server.url}/.well-known/pqgate`),
      );
      const ch = await connect(channelUrl, {
        pin,
        keyConfigUrl: `${server.url}/pq/.well-known/pqgate`,
      });
      try {
        assert.equal(ch.pin, pin);
        const r = await ch.fetch("https://demo/api/items/3");
        assert.equal(r.status, 200);
        assert.equal((await r.json()).name, "hybrid");
      } finally {
        ch.close();
      }
    } finally {
      await server.shutdown();
    }
  },
});
