/**
 * Tunneled WebSockets on Cloudflare Workers (PROTOCOL.md §6.9, docs/cloudflare.md "Tunneled
 * WebSockets"): the Worker built by `createWorker` in real workerd (Miniflare), its Durable
 * Object opening origin sockets with `fetch` + `Upgrade` (src/transport/cloudflare/
 * origin-websocket.ts, wired by worker-websockets.ts), a real Deno WebSocket origin on loopback
 * (tests/e2e/ws-origin.ts). The cases are websocket-suite.ts's (the same as Deno's and
 * Chromium's), with the gateway's `websocket` events read from workerd's log lines; plus what
 * only a Worker has: a channel whose object was evicted (hibernation) opens WebSockets again, and
 * the per-isolate origin-socket cap releases every slot.
 */
import assert from "node:assert/strict";
import { toBase64Url } from "../../src/protocol/bytes.ts";
import { generateStaticKey, pinFor } from "../../src/protocol/static-keys.ts";
import { connect } from "../../src/client/mod.ts";
import { recordWebSocket } from "../../src/client/testing.ts";
import { channelUrl } from "../e2e/loopback.ts";
import {
  pausableWebSocket,
  runWebSocketSuite,
  WS_SUITE_HOSTS,
  WS_SUITE_LIMITS,
  WS_SUITE_WEBSOCKETS,
  wsSuiteRoutes,
} from "../e2e/websocket-suite.ts";
import { startWsOrigin } from "../e2e/ws-origin.ts";
import { startWorker } from "./miniflare.ts";

const SEED = new Uint8Array(32).map((_, i) => (i * 53 + 11) & 0xff);
const PIN = pinFor(generateStaticKey(SEED).publicKey);
/**
 * Per isolate (every channel of this test shares it): a leaked slot would show as a 503. The
 * per-channel cap is set above it, so that one channel can reach the isolate's.
 */
const MAX_ORIGIN_SOCKETS = WS_SUITE_WEBSOCKETS.maxPerChannel;
const MAX_PER_CHANNEL = MAX_ORIGIN_SOCKETS + 8;

Deno.test({
  name: "cf workers: tunneled WebSockets through the Durable Object to a real WebSocket origin",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const origin = startWsOrigin();
    const events: Record<string, unknown>[] = [];
    const w = await startWorker({
      keys: JSON.stringify([toBase64Url(SEED)]),
      routes: wsSuiteRoutes(origin.url),
      vars: {
        PQGATE_LOG: "info",
        PQGATE_LIMITS: JSON.stringify(WS_SUITE_LIMITS),
        PQGATE_WEBSOCKETS: JSON.stringify({
          maxPerChannel: MAX_PER_CHANNEL,
          maxOriginSockets: MAX_ORIGIN_SOCKETS,
        }),
      },
      testHooks: true,
      stdout: (line) => {
        if (!line.startsWith("{")) return;
        try {
          const o = JSON.parse(line) as Record<string, unknown>;
          if (o.event === "websocket") events.push(o);
        } catch { /* not a log line */ }
      },
    });
    const httpUrl = w.url.replace(/\/$/, "");
    try {
      await runWebSocketSuite(
        {
          name: "workers",
          wsUrl: channelUrl(httpUrl),
          pin: PIN,
          events: () => events,
          pausable: pausableWebSocket(),
        },
        origin,
        t,
      );

      await t.step("workers: every origin socket the suite opened released its slot", async () => {
        // The suite opened far more than MAX_ORIGIN_SOCKETS sockets in all; the cap is per
        // isolate, so a slot kept by any of them would refuse one of these (503).
        const ch = await connect(channelUrl(httpUrl), { pin: PIN });
        try {
          const open = (q: string) =>
            recordWebSocket(ch.websocket(`wss://${WS_SUITE_HOSTS.echo}/echo?${q}`));
          const all = Array.from({ length: MAX_ORIGIN_SOCKETS }, (_, i) => open(`slot=${i}`));
          await Promise.all(all.map((r) => r.opened(60_000)));
          assert.deepEqual(all.map((r) => r.log.join()), all.map(() => "open"));
          const ws = ch.websocket(`wss://${WS_SUITE_HOSTS.echo}/echo?over`);
          const over = recordWebSocket(ws);
          await over.closed();
          assert.deepEqual(over.log, ["error", "close:1006"]);
          assert.equal(ws.gatewayError?.status, 503, "the per-isolate cap is reached");
        } finally {
          ch.close();
        }
        const start = Date.now();
        while (origin.open > 0 && Date.now() - start < 30_000) {
          await new Promise((r) => setTimeout(r, 20));
        }
        assert.equal(origin.open, 0, "the channel's close closed its origin sockets");
      });

      await t.step(
        "workers: after its object was evicted (hibernation), a channel opens WebSockets again",
        async () => {
          const name = `ws-${Date.now()}`;
          const ch = await connect(channelUrl(httpUrl) + `?__object=${name}`, { pin: PIN });
          try {
            const echo = async (tag: string) => {
              const ws = ch.websocket(`wss://${WS_SUITE_HOSTS.echo}/echo/${tag}`);
              const r = recordWebSocket(ws);
              await r.opened(60_000);
              ws.send(tag);
              const end = Date.now() + 30_000;
              while (r.messages.length === 0 && r.close === null && Date.now() < end) {
                await new Promise((res) => setTimeout(res, 5));
              }
              assert.deepEqual(r.messages, [tag], `${r.log} ${JSON.stringify(ws.gatewayError)}`);
              ws.close(1000);
              await r.closed();
              assert.equal(r.close?.wasClean, true);
            };
            await echo("before");
            const ev = await (await fetch(`${httpUrl}/__pqgate_test/${name}/evict`)).json() as {
              evicted: number;
            };
            assert.equal(ev.evicted, 1);
            await echo("after");
            assert.equal(ch.connected, true);
          } finally {
            ch.close();
          }
        },
      );
    } finally {
      await w.close();
      await origin.close();
    }
  },
});
