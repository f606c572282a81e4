/**
 * The shared end-to-end suite against the Deno transport: a real `serveDeno` gateway, a real
 * recording origin, the real client, all on loopback. Run twice: with the default crypto
 * ("auto": native backends, selected before the suite starts so that every channel uses them)
 * and with the pure-JS core (`crypto: "noble"`).
 */
import assert from "node:assert/strict";
import { connect } from "../../src/client/mod.ts";
import { createGateway } from "../../src/gateway/create-gateway.ts";
import { generateStaticKey, pinFor } from "../../src/protocol/static-keys.ts";
import { serveDeno } from "../../src/transport/deno/serve.ts";
import { runGatewaySuite, SUITE_LIMITS, suiteRoutes } from "./gateway-suite.ts";
import { channelUrl, deadOriginUrl } from "./loopback.ts";
import { startRecordingOrigin } from "./recording-origin.ts";

for (const mode of ["auto", "noble"] as const) {
  Deno.test({
    name: `e2e: gateway on Deno (serveDeno), crypto: ${mode}`,
    // Sockets and timers of closed channels wind down asynchronously after each scenario.
    sanitizeOps: false,
    sanitizeResources: false,
    async fn(t) {
      const origin = await startRecordingOrigin();
      const key = generateStaticKey(crypto.getRandomValues(new Uint8Array(32)));
      const gateway = createGateway({
        keys: key,
        routes: suiteRoutes(origin, deadOriginUrl()),
        limits: SUITE_LIMITS,
        ...(mode === "noble" ? { crypto: "noble" as const } : {}),
      });
      const report = await gateway.cryptoReport();
      assert.equal(report.mode, mode);
      if (mode === "noble") assert.equal(report.mlkem, "noble");
      const server = serveDeno({ gateway, port: 0 });
      try {
        const health = await (await fetch(`${server.url}/healthz`)).json();
        assert.equal(health.status, "ok");
        assert.equal(health.crypto.mlkem, report.mlkem);
        await runGatewaySuite(
          {
            name: `deno/${mode}`,
            wsUrl: channelUrl(server.url),
            httpUrl: server.url,
            pin: pinFor(key.publicKey),
            ...SUITE_LIMITS,
          },
          origin,
          t,
        );
      } finally {
        await server.shutdown();
        await origin.close();
      }
    },
  });
}

Deno.test({
  name: "e2e: crypto auto — a connection that arrives before the selection finished uses noble",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const key = generateStaticKey(crypto.getRandomValues(new Uint8Array(32)));
    const events: string[] = [];
    const gateway = createGateway({ keys: key, log: (e) => void events.push(e) });
    const server = serveDeno({ gateway, port: 0 });
    try {
      const url = channelUrl(server.url);
      // No cryptoReport() yet: this first connection starts the selection and does not wait.
      const first = await connect(url, { pin: pinFor(key.publicKey) });
      const r1 = await first.fetch("https://demo/api/hello");
      assert.equal(r1.status, 200);
      await r1.body?.cancel();
      const report = await gateway.cryptoReport();
      assert.ok(events.includes("crypto"));
      const second = await connect(url, { pin: pinFor(key.publicKey) });
      const r2 = await second.fetch("https://demo/api/hello");
      assert.equal(r2.status, 200);
      await r2.body?.cancel();
      assert.equal(
        (await (await fetch(`${server.url}/healthz`)).json()).crypto.mlkem,
        report.mlkem,
      );
      first.close();
      second.close();
    } finally {
      await server.shutdown();
    }
  },
});
