/**
 * Graceful drain (docs/operations.md "Drain") on both servers of serveDeno: a streaming
 * response started before the shutdown finishes, new upgrades are refused with 503 before the
 * upgrade, /readyz answers 503 "draining", a new stream on a draining channel is refused
 * (REFUSED: not processed), an idle channel closes 1001 at once, the busy one once its stream
 * completed; a response that would outlive the deadline is cut at the deadline.
 */
import assert from "node:assert/strict";
import { connect } from "../../client/mod.ts";
import { createGateway } from "../../gateway/create-gateway.ts";
import { generateStaticKey, pinFor } from "../../protocol/static-keys.ts";
import { serveDeno } from "./serve.ts";
import { rawUpgrade } from "./testing.ts";

const key = generateStaticKey(new Uint8Array(32).fill(7));
const pin = pinFor(key.publicKey);

/** An origin whose /slow streams `chunks` chunks, one every `everyMs`, and /hello answers. */
function slowOrigin(chunks: number, everyMs: number) {
  return Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, (req) => {
    if (new URL(req.url).pathname === "/hello") return new Response("hello");
    let n = 0;
    let t: ReturnType<typeof setInterval> | undefined;
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new TextEncoder().encode("chunk0\n"));
        t = setInterval(() => {
          if (++n >= chunks) {
            clearInterval(t);
            c.close();
          } else c.enqueue(new TextEncoder().encode(`chunk${n}\n`));
        }, everyMs);
      },
      cancel() {
        clearInterval(t);
      },
    });
    return new Response(body);
  });
}

for (const kind of ["node", "deno"] as const) {
  Deno.test({
    name: `serveDeno (${kind}): drain lets an open stream finish, refuses upgrades and new streams`,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const origin = slowOrigin(8, 100);
      const gateway = createGateway({
        keys: key,
        routes: [{ match: { authority: "api" }, origin: `http://127.0.0.1:${origin.addr.port}` }],
      });
      const server = serveDeno({ gateway, port: 0, server: kind, drainTimeoutMs: 5_000 });
      const ws = `${server.url.replace(/^http/, "ws")}/pqgate`;
      try {
        const pending = await fetch(`${server.url}/readyz`);
        assert.equal(pending.status, 503, "ready before the crypto self-tests finished");
        assert.equal((await pending.json()).reason, "crypto_self_test_pending");
        await gateway.cryptoReport();
        assert.equal((await fetch(`${server.url}/readyz`)).status, 200);
        const busy = await connect(ws, { pin });
        const idle = await connect(ws, { pin });
        assert.equal(await (await idle.fetch("https://api/hello")).text(), "hello");
        const res = await busy.fetch("https://api/slow");
        assert.equal(res.status, 200);
        const body = res.text();

        const t0 = Date.now();
        const stopped = server.shutdown();
        assert.equal(server.shutdown(), stopped, "idempotent");

        // The idle channel is closed with 1001 at once.
        await waitUntil(() => !idle.connected, 2_000, "idle channel still open");
        // Upgrades are refused before the upgrade; readiness says draining.
        const up = await rawUpgrade(ws);
        assert.equal(up.status, 503);
        assert.equal(up.headers.get("retry-after"), "1");
        assert.equal(up.headers.get("connection"), "close");
        up.conn.close();
        const ready = await fetch(`${server.url}/readyz`);
        assert.equal(ready.status, 503);
        assert.deepEqual(await ready.json(), { status: "not_ready", reason: "draining" });
        assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
        // A new stream on the draining channel is refused (not processed).
        await assert.rejects(busy.fetch("https://api/hello"), /REFUSED/);

        // The stream started before the shutdown completes, then the channel closes 1001.
        const text = await body;
        assert.equal(text.split("\n").filter(Boolean).length, 8, text);
        await stopped;
        const took = Date.now() - t0;
        assert.ok(took < 4_000, `drain took ${took} ms`);
        assert.equal(busy.connected, false);
        assert.equal(server.transport.sessionCount, 0);
        busy.close();
        idle.close();
      } finally {
        await server.shutdown();
        await origin.shutdown();
      }
    },
  });

  Deno.test({
    name: `serveDeno (${kind}): a response that outlives the drain deadline is cut at it`,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const origin = slowOrigin(1_000, 100);
      const gateway = createGateway({
        keys: key,
        routes: [{ match: { authority: "api" }, origin: `http://127.0.0.1:${origin.addr.port}` }],
      });
      const server = serveDeno({ gateway, port: 0, server: kind });
      const ws = `${server.url.replace(/^http/, "ws")}/pqgate`;
      try {
        const ch = await connect(ws, { pin });
        const res = await ch.fetch("https://api/slow");
        const body = res.text();
        body.catch(() => {});
        const t0 = Date.now();
        await server.shutdown({ deadlineMs: 400 });
        const took = Date.now() - t0;
        await assert.rejects(body, /1001|going away/);
        // The deadline, then at most the close bound (GRACE_MS 3 s) for the socket to go.
        assert.ok(took >= 390 && took < 3_400, `shutdown took ${took} ms`);
        assert.equal(server.transport.sessionCount, 0);
        ch.close();
      } finally {
        await server.shutdown();
        await origin.shutdown();
      }
    },
  });
}

async function waitUntil(ok: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) assert.fail(what);
    await new Promise((r) => setTimeout(r, 10));
  }
}
